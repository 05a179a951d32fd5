/** DPoP test kit: proof keys with their RFC 7638 thumbprint (for `cnf.jkt`), `ath`, and proofs with any claims or header. */
import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { itemsSpec } from './apikeys.ts';

/** `GET /items` behind an http bearer scheme, `GET /public` open: the spec the DPoP tests share. */
export const DPOP_SPEC = itemsSpec('dpop', 'bearer: { type: http, scheme: bearer }');

export interface ProofKey {
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  readonly jkt: string;
}

export async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** RFC 9449 `ath` of an access token. */
export const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** A proof signed by `key`, with a fresh `jti` and `iat` unless `claims` give them; `header` fields win. */
export function proof(key: ProofKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}, alg = 'ES256'): Promise<string> {
  return new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: key.jwk, ...header } as never)
    .sign(key.privateKey);
}
