/**
 * Signs the demo IdP's access tokens: JWT, header `typ: at+jwt` (RFC 9068), ES256, with the current key's `kid`.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { KeyRing } from './keys.ts';

/** Claims for an access token. `sub` is required; anything else is copied in as given. */
export interface TokenClaims {
  sub: string;
  scope?: string;
  [claim: string]: unknown;
}

/** Issuer settings the signer stamps on every token. */
export interface TokenSettings {
  keys: KeyRing;
  issuer: string;
  audience: string;
  /** Lifetime in seconds (negative values produce already-expired tokens, for tests). */
  ttlSeconds: number;
}

/**
 * Signs an access token with `iss`, `aud`, `iat`, `exp` (`iat + ttlSeconds`) and a random `jti`.
 * A claim given in `claims` (including `iss`, `aud` or `jti`) wins over the default, so tests can mint wrong tokens.
 */
export async function signAccessToken(settings: TokenSettings, claims: TokenClaims): Promise<string> {
  const key = settings.keys.current();
  const iat = Math.floor(Date.now() / 1000);
  const payload = {
    iss: settings.issuer,
    aud: settings.audience,
    iat,
    exp: iat + settings.ttlSeconds,
    jti: randomUUID(),
    ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid }).sign(key.privateKey);
}
