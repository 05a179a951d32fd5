import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { readOrCreateSecretFile } from '../config/generated-secret.ts';

/**
 * Rampart's Ed25519 audit key pair and its id (first 16 hex digits of the SHA-256 of the SPKI DER), with the
 * record MAC key derived from the private half (absent when only the public key is known).
 */
export interface SigningKey {
  readonly privateKey: KeyObject | undefined;
  readonly publicKey: KeyObject;
  readonly keyId: string;
  /** HMAC-SHA-256 key for per-record MACs: HKDF-SHA-256 of the private key, never stored in the database. */
  readonly macKey: KeyObject | undefined;
}

/**
 * The record MAC key: HKDF-SHA-256 over the PKCS#8 DER of the Ed25519 private key, domain-separated by salt and
 * info, so one managed secret (`audit.signing_key`) serves both and the database holds neither.
 */
function deriveMacKey(privateKey: KeyObject): KeyObject {
  const ikm = privateKey.export({ type: 'pkcs8', format: 'der' });
  return createSecretKey(Buffer.from(hkdfSync('sha256', ikm, 'rampart-audit', 'record-mac:v2', 32)));
}

/** Builds a SigningKey from a PEM private key (PKCS#8) or a PEM public key (verification only). Throws on other key types. */
export function signingKeyFromPem(pem: string): SigningKey {
  const isPrivate = pem.includes('PRIVATE KEY');
  const privateKey = isPrivate ? createPrivateKey(pem) : undefined;
  const publicKey = privateKey ? createPublicKey(privateKey) : createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be an Ed25519 key');
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
  return { privateKey, publicKey, keyId, macKey: privateKey ? deriveMacKey(privateKey) : undefined };
}

/**
 * Reads the Ed25519 key at `path`, or generates one there (mode 0600, directory 0700) when the file does not
 * exist. Returns the key and whether it was generated.
 */
export function loadOrCreateSigningKey(path: string): { key: SigningKey; generated: boolean } {
  const { value, created } = readOrCreateSecretFile(path, () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  return { key: signingKeyFromPem(value), generated: created };
}

/** What a signature is over: a checkpoint row in the database, or a head published outside it. */
export type AnchorKind = 'checkpoint' | 'head';

/**
 * The bytes an anchor signature covers. v1 (checkpoints written before record MACs) has no `keyedFrom`; v2 signs
 * the seq from which every record carries a MAC, so stripping MACs to pass records off as legacy is detected.
 */
function anchorMessage(kind: AnchorKind, seq: number, hash: string, time: string, keyedFrom: number | undefined): Buffer {
  if (keyedFrom === undefined) {
    if (kind !== 'checkpoint') throw new Error('a head is always v2');
    return Buffer.from(`rampart-audit-checkpoint:v1:${seq}:${hash}:${time}`);
  }
  return Buffer.from(`rampart-audit-${kind}:v2:${seq}:${hash}:${time}:${keyedFrom}`);
}

/**
 * Signs a checkpoint or head (base64url Ed25519 signature) of record `seq` with hash `hash`, at `time`.
 * `keyedFrom` undefined gives a v1 checkpoint (tests of legacy chains only). Throws when the key has no private half.
 */
export function signCheckpoint(key: SigningKey, seq: number, hash: string, time: string, keyedFrom?: number, kind: AnchorKind = 'checkpoint'): string {
  if (!key.privateKey) throw new Error('no private signing key');
  return sign(null, anchorMessage(kind, seq, hash, time, keyedFrom), key.privateKey).toString('base64url');
}

/** Verifies a checkpoint or head signature with the public key (false on any malformed input). */
export function verifyCheckpoint(key: SigningKey, seq: number, hash: string, time: string, signature: string, keyedFrom?: number, kind: AnchorKind = 'checkpoint'): boolean {
  try {
    return verify(null, anchorMessage(kind, seq, hash, time, keyedFrom), key.publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
