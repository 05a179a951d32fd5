/**
 * Works out who is calling the naive demo API: it DECODES the bearer token without verifying it (no signature,
 * issuer, audience or expiry check). Deliberately insecure: Rampart verifies tokens in front of this API.
 */
import type { IncomingMessage } from 'node:http';
import { decodeJwt } from 'jose';

/**
 * Returns the `sub` of the bearer token in `Authorization` — or, when there is none, of the identity assertion
 * Rampart sends in `X-Rampart-Identity` (e.g. for API-key callers) — or `undefined` when there is no token, it
 * does not decode, or it has no string `sub`. The signature is never checked.
 */
export function callerId(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const bearer = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  const token = bearer ?? (typeof req.headers['x-rampart-identity'] === 'string' ? req.headers['x-rampart-identity'] : undefined);
  if (!token) return undefined;
  try {
    const { sub } = decodeJwt(token);
    return typeof sub === 'string' && sub !== '' ? sub : undefined;
  } catch {
    return undefined;
  }
}
