/**
 * The demo IdP's ES256 signing keys. A new key becomes current on rotation; the previous one stays published in
 * the JWKS so tokens it signed keep verifying until they expire (overlap).
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';

/** How many keys the JWKS publishes: the current one and the one before it. */
export const PUBLISHED_KEYS = 2;

/** A signing key with its id. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** The IdP's keys: `current()` signs, `jwks()` publishes public halves, `rotate()` adds a new current key. */
export interface KeyRing {
  current(): SigningKey;
  /** Generates a new current key, keeps the previous one published, and returns the new `kid`. */
  rotate(): Promise<string>;
  /** The public JWK Set, newest key first. Never contains private members. */
  jwks(): { keys: JWK[] };
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  // The kid is the RFC 7638 thumbprint: unique per key and derivable by anyone holding the public key.
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
}

/** Creates a key ring with one freshly generated ES256 key. */
export async function createKeyRing(): Promise<KeyRing> {
  let keys: SigningKey[] = [await newKey()];
  return {
    current: () => keys[0] as SigningKey,
    async rotate() {
      const key = await newKey();
      keys = [key, ...keys].slice(0, PUBLISHED_KEYS);
      return key.kid;
    },
    jwks: () => ({ keys: keys.map((k) => ({ ...k.publicJwk })) }),
  };
}
