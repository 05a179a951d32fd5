import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Rampart's Ed25519 checkpoint key pair and its id (first 16 hex digits of the SHA-256 of the SPKI DER). */
export interface SigningKey {
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject;
  readonly keyId: string;
}

/** Builds a SigningKey from a PEM private key (PKCS#8) or a PEM public key (verification only). Throws on other key types. */
export function signingKeyFromPem(pem: string): SigningKey {
  const isPrivate = pem.includes('PRIVATE KEY');
  const privateKey = isPrivate ? createPrivateKey(pem) : undefined;
  const publicKey = privateKey ? createPublicKey(privateKey) : createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be an Ed25519 key');
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
  return { privateKey, publicKey, keyId };
}

/**
 * Reads the Ed25519 key at `path`, or generates one there (mode 0600, directory 0700) when the file does not
 * exist. Returns the key and whether it was generated.
 */
export function loadOrCreateSigningKey(path: string): { key: SigningKey; generated: boolean } {
  if (existsSync(path)) return { key: signingKeyFromPem(readFileSync(path, 'utf8')), generated: false };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600, flag: 'wx' });
  return { key: signingKeyFromPem(readFileSync(path, 'utf8')), generated: true };
}

/** The bytes a checkpoint signature covers. */
function checkpointMessage(seq: number, hash: string, time: string): Buffer {
  return Buffer.from(`rampart-audit-checkpoint:v1:${seq}:${hash}:${time}`);
}

/** Signs a checkpoint (base64url signature). Throws when the key has no private half. */
export function signCheckpoint(key: SigningKey, seq: number, hash: string, time: string): string {
  if (!key.privateKey) throw new Error('no private signing key');
  return sign(null, checkpointMessage(seq, hash, time), key.privateKey).toString('base64url');
}

/** Verifies a checkpoint signature with the public key. */
export function verifyCheckpoint(key: SigningKey, seq: number, hash: string, time: string, signature: string): boolean {
  try {
    return verify(null, checkpointMessage(seq, hash, time), key.publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
