import { constants, createHmac, createPrivateKey, createPublicKey, createSecretKey, sign, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { ConfigIssueError } from '../../config/errors.ts';
import type { SignatureAlgorithm, SignatureKeyConfig } from './schema.ts';

/** Shortest HMAC secret accepted, in bytes (RFC 9421 §3.3.3 leaves it to the application; 256 bits as for HS256). */
export const MIN_HMAC_SECRET_BYTES = 32;

/** A partner key, pinned to one algorithm: the verification of each algorithm only ever sees its own key type. */
export interface VerificationKey {
  readonly keyid: string;
  readonly consumer: string;
  readonly algorithm: SignatureAlgorithm;
  readonly scopes: readonly string[];
  /** Whether `signature` is a valid signature of `base`; false (never a throw) for malformed signature bytes. */
  verify(base: Buffer, signature: Buffer): boolean;
}

/** Signature byte lengths where the algorithm fixes them (RSA-PSS's is the modulus length). */
const FIXED_LENGTH: Partial<Record<SignatureAlgorithm, number>> = { ed25519: 64, 'ecdsa-p256-sha256': 64, 'hmac-sha256': 32 };

function publicKeyFrom(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return createPublicKey({ key: JSON.parse(trimmed) as JsonWebKey, format: 'jwk' });
  return createPublicKey(trimmed);
}

/** Why `key` cannot verify `algorithm` (Ed25519; EC P-256; RSA of at least 2048 bits, plain or RSA-PSS), or undefined. */
function keyTypeProblem(algorithm: Exclude<SignatureAlgorithm, 'hmac-sha256'>, key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (algorithm === 'ed25519' && type === 'ed25519') return undefined;
  if (algorithm === 'ecdsa-p256-sha256' && type === 'ec') return details?.namedCurve === 'prime256v1' ? undefined : `is an EC key on ${details?.namedCurve ?? 'an unknown curve'}, which ${algorithm} cannot use (P-256 only)`;
  if (algorithm === 'rsa-pss-sha512' && (type === 'rsa' || type === 'rsa-pss')) {
    const bits = details?.modulusLength ?? 0;
    return bits >= 2048 ? undefined : `is a ${bits}-bit RSA key, which ${algorithm} cannot use (at least 2048 bits)`;
  }
  return `is a ${type ?? 'unknown'} key, which ${algorithm} cannot use`;
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * Checks a partner's public key offered through the admin API for a store-backed key: PEM (SPKI; PKCS#1 for RSA) or
 * a JWK, parsed by `node:crypto`, of the pinned algorithm's type (Ed25519; EC P-256; RSA ≥ 2048 bits). Private key
 * material is refused (it would otherwise be accepted and its public half derived, leaving the private key stored
 * in clear). Returns the problem (never echoing the key), or undefined when the key is usable.
 */
export function publicKeyProblem(algorithm: Exclude<SignatureAlgorithm, 'hmac-sha256'>, text: string): string | undefined {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as Record<string, unknown>;
      if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'is not a PEM or JWK public key';
      if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) return 'is a private or secret JWK; give the public key only';
    } else if (/PRIVATE KEY-----/.test(trimmed)) {
      return 'is a private key; give the public key only (PEM -----BEGIN PUBLIC KEY-----)';
    }
    key = publicKeyFrom(trimmed);
  } catch {
    return 'is not a PEM or JWK public key';
  }
  if (key.type !== 'public') return 'is not a public key';
  return keyTypeProblem(algorithm, key);
}

/**
 * Builds the verification key of `config` (config path `at`): the public key must be of the pinned algorithm's
 * type (Ed25519; EC P-256; RSA of at least 2048 bits, plain or RSA-PSS); an HMAC secret must be base64 of at least
 * 32 bytes. An asymmetric algorithm never takes `secret`, HMAC never takes `public_key`.
 * @throws ConfigIssueError naming `at` (never the key material).
 */
export function verificationKey(keyid: string, config: SignatureKeyConfig, at: string): VerificationKey {
  const { algorithm } = config;
  const fixed = FIXED_LENGTH[algorithm];
  const base = { keyid, consumer: config.consumer, algorithm, scopes: Object.freeze([...config.scopes]) };
  if (algorithm === 'hmac-sha256') {
    if (config.public_key !== undefined) throw new ConfigIssueError(`${at}.public_key`, 'hmac-sha256 keys take a shared `secret`, not a public key', 'set secret: ${file:…} or ${env:…}');
    if (config.secret === undefined) throw new ConfigIssueError(`${at}.secret`, 'hmac-sha256 keys need a secret', 'set secret: ${file:…} or ${env:…} (base64 of at least 32 random bytes)');
    const text = config.secret.trim();
    if (!/^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+$/.test(text)) throw new ConfigIssueError(`${at}.secret`, 'is not base64 text', 'store the secret base64-encoded');
    const bytes = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    if (bytes.length < MIN_HMAC_SECRET_BYTES) throw new ConfigIssueError(`${at}.secret`, `decodes to ${bytes.length} bytes; at least ${MIN_HMAC_SECRET_BYTES} are needed`, 'generate one with: openssl rand -base64 32');
    const key = createSecretKey(bytes);
    return Object.freeze({
      ...base,
      verify(data: Buffer, signature: Buffer): boolean {
        if (signature.length !== fixed) return false;
        return timingSafeEqual(createHmac('sha256', key).update(data).digest(), signature);
      },
    });
  }
  if (config.secret !== undefined) throw new ConfigIssueError(`${at}.secret`, `${algorithm} keys take a public_key, not a shared secret`, 'remove secret');
  if (config.public_key === undefined) throw new ConfigIssueError(`${at}.public_key`, `${algorithm} keys need a public_key`, 'set public_key to the partner\'s PEM (SPKI) or JWK');
  let key: KeyObject;
  try {
    key = publicKeyFrom(config.public_key);
  } catch (error) {
    throw new ConfigIssueError(`${at}.public_key`, 'is not a PEM or JWK public key', 'paste the PEM (-----BEGIN PUBLIC KEY-----) or a JWK, or reference its file', { cause: error });
  }
  const problem = keyTypeProblem(algorithm, key);
  if (problem) throw new ConfigIssueError(`${at}.public_key`, problem, `give a key of the pinned algorithm (${algorithm})`);
  const check = (data: Buffer, signature: Buffer): boolean => {
    if (fixed !== undefined && signature.length !== fixed) return false;
    switch (algorithm) {
      case 'ed25519':
        return verify(null, data, key, signature);
      case 'ecdsa-p256-sha256':
        return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'rsa-pss-sha512':
        // RFC 9421 §3.3.1: MGF1 with SHA-512 and a 64-byte salt.
        return verify('sha512', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, signature);
    }
  };
  return Object.freeze({
    ...base,
    verify(data: Buffer, signature: Buffer): boolean {
      try {
        return check(data, signature);
      } catch {
        return false; // node:crypto throws on some malformed signatures (wrong RSA length): simply not valid
      }
    },
  });
}

/** One of the gateway's own Ed25519 signing keys for upstream requests. */
export interface UpstreamKey {
  readonly keyid: string;
  readonly privateKey: KeyObject;
  /** The public half as a JWK (`kty`, `crv`, `x`, `kid`, `use`), for the admin JWKS. */
  readonly publicJwk: Readonly<Record<string, string>>;
}

/**
 * Loads an upstream signing key from PKCS#8 PEM text.
 * @throws ConfigIssueError naming `at` when it is not an Ed25519 private key.
 */
export function upstreamKey(keyid: string, pem: string, at: string): UpstreamKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new ConfigIssueError(at, 'is not a PEM private key', 'generate one with: openssl genpkey -algorithm ed25519', { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new ConfigIssueError(at, `is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; upstream signing uses Ed25519`, 'generate one with: openssl genpkey -algorithm ed25519');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<string, string>;
  return Object.freeze({ keyid, privateKey, publicJwk: Object.freeze({ kty: String(jwk['kty']), crv: String(jwk['crv']), x: String(jwk['x']), kid: keyid, use: 'sig' }) });
}

/** Signs a signature base with an upstream key (Ed25519). */
export function signBase(key: UpstreamKey, base: string): Buffer {
  return sign(null, Buffer.from(base), key.privateKey);
}
