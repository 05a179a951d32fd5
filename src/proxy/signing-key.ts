import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** Algorithms Rampart signs identity assertions with. */
export type IdentityAlgorithm = 'ES256' | 'EdDSA';

/** One of Rampart's own signing keys. The private half never leaves the process. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: IdentityAlgorithm;
  readonly privateKey: KeyObject;
  /** Public JWK with `kid`, `alg` and `use: sig`. */
  readonly publicJwk: JWK;
  /** When the key was created or loaded, in ms since the epoch. */
  readonly createdAt: number;
}

async function fromPrivateKey(privateKey: KeyObject, createdAt: number): Promise<SigningKey> {
  let alg: IdentityAlgorithm;
  if (privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256';
  else if (privateKey.asymmetricKeyType === 'ed25519') alg = 'EdDSA';
  else throw new Error('identity.signing_key: must be an EC P-256 (ES256) or Ed25519 (EdDSA) private key');
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  return Object.freeze({ kid, alg, privateKey, publicJwk: Object.freeze({ ...jwk, kid, alg, use: 'sig' }), createdAt });
}

/**
 * Loads a signing key from PKCS#8 (or SEC1) PEM text. The `kid` is the RFC 7638 thumbprint, so every instance
 * sharing the key file publishes the same `kid`.
 * @throws Error naming `identity.signing_key` (never the key) when the text is not a usable private key.
 */
export async function signingKeyFromPem(pem: string, now: number): Promise<SigningKey> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new Error('identity.signing_key: not a PEM private key', { cause: error });
  }
  return fromPrivateKey(privateKey, now);
}

/** Generates a fresh in-memory ES256 key. */
export async function generateSigningKey(now: number): Promise<SigningKey> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fromPrivateKey(privateKey, now);
}

/**
 * Rampart's identity signing keys. With a configured key: that key only. Without: generated keys rotated every
 * `rotateMs`; the next key is published before it signs anything and the previous one stays published after, so
 * upstreams that cache the JWKS never meet an unknown `kid` (overlap on both sides).
 */
export class SigningKeyRing {
  readonly #rotateMs: number;
  readonly #now: () => number;
  readonly #generated: boolean;
  #previous: SigningKey | undefined;
  #current: SigningKey;
  #next: SigningKey | undefined;
  #rotating: Promise<void> | undefined;

  private constructor(current: SigningKey, next: SigningKey | undefined, rotateMs: number, now: () => number) {
    this.#current = current;
    this.#next = next;
    this.#generated = next !== undefined;
    this.#rotateMs = rotateMs;
    this.#now = now;
  }

  /**
   * Builds the ring from the configured PEM, or with generated keys when `pem` is undefined.
   * @param rotateMs rotation period of generated keys, in ms.
   * @param now clock in ms since the epoch (default Date.now).
   */
  static async create(pem: string | undefined, rotateMs: number, now: () => number = Date.now): Promise<SigningKeyRing> {
    const t = now();
    if (pem !== undefined) return new SigningKeyRing(await signingKeyFromPem(pem, t), undefined, rotateMs, now);
    return new SigningKeyRing(await generateSigningKey(t), await generateSigningKey(t), rotateMs, now);
  }

  /** The key to sign with now (rotating generated keys when due). */
  async current(): Promise<SigningKey> {
    if (this.#generated && this.#now() - this.#current.createdAt >= this.#rotateMs) {
      this.#rotating ??= this.#rotate().finally(() => (this.#rotating = undefined));
      await this.#rotating;
    }
    return this.#current;
  }

  async #rotate(): Promise<void> {
    const fresh = await generateSigningKey(this.#now());
    this.#previous = this.#current;
    this.#current = Object.freeze({ ...this.#next!, createdAt: this.#now() });
    this.#next = fresh;
  }

  /** The public JWK Set: next, current and previous keys. Never contains private members. */
  jwks(): { keys: JWK[] } {
    const keys = [this.#next, this.#current, this.#previous].filter((k): k is SigningKey => k !== undefined);
    return { keys: keys.map((k) => ({ ...k.publicJwk })) };
  }
}
