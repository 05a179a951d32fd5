import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { GatewayError } from '../../problem.ts';

/** Longest DPoP header accepted, in bytes: an RSA-4096 JWK and the claims fit well within it. */
export const MAX_PROOF_BYTES = 4096;
/** RSA moduli accepted in a proof's JWK, as base64url lengths: 2048 to 4096 bits (a 16k-bit key costs CPU to verify). */
const RSA_N_LENGTHS = [342, 683] as const;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** What a proof must match: the request it came with and the token it accompanies. */
export interface ProofExpectation {
  readonly method: string;
  /** `scheme://host/path` of the request (RFC 9449 §4.3: no query, no fragment). */
  readonly url: string;
  readonly accessToken: string;
  readonly nowMs: number;
  /** The thumbprint the token is bound to (`cnf.jkt`): a proof by another key is refused before its signature is checked. */
  readonly jkt: string;
}

export interface ProofOptions {
  readonly algorithms: readonly string[];
  readonly maxAgeSeconds: number;
  readonly skewSeconds: number;
  /** When set, the proof's `nonce` must be accepted by it (else 401 `use_dpop_nonce`). */
  readonly nonce?: { accepts(nonce: unknown): boolean; current(): string };
}

/** A verified proof: the key's RFC 7638 thumbprint (for `cnf.jkt`) and the `jti` to check for replay. */
export interface VerifiedProof {
  readonly jkt: string;
  readonly jti: string;
}

/** A 401 for a bad DPoP proof, with the RFC 9449 §7.1 challenge; `detail` goes to the log only. */
export function invalidProof(detail: string, algorithms: readonly string[], cause?: unknown): GatewayError {
  return new GatewayError('invalid_token', `DPoP proof rejected: ${detail}`, {
    headers: { 'www-authenticate': `DPoP algs="${algorithms.join(' ')}", error="invalid_dpop_proof"` },
    cause,
  });
}

/**
 * Verifies a DPoP proof JWT (RFC 9449 §4.3): `typ: dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` in the
 * header that the signature verifies with, `htm`/`htu` equal to this request, `iat` within the window, a `jti`,
 * `ath` = SHA-256 of the access token, and the server nonce when required. The key's thumbprint is compared with
 * the token's `cnf.jkt` before the signature is checked (a thief's proofs cost no verification). Replay (`jti` seen
 * before) is the caller's check: it needs the shared counters. Throws a 401 GatewayError on any failure.
 */
export async function verifyProof(proof: string, expected: ProofExpectation, options: ProofOptions): Promise<VerifiedProof> {
  const algorithms = options.algorithms;
  if (proof.length > MAX_PROOF_BYTES || !COMPACT_JWS.test(proof)) throw invalidProof('not a compact JWS within the size limit', algorithms);
  let jwk: JWK;
  try {
    const header = decodeProtectedHeader(proof);
    if (header.typ !== 'dpop+jwt') throw invalidProof('typ is not dpop+jwt', algorithms);
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw invalidProof('alg not accepted', algorithms);
    if (header.jwk === null || typeof header.jwk !== 'object') throw invalidProof('no jwk header', algorithms);
    jwk = header.jwk;
    for (const name of ['crit', 'jku', 'x5u', 'x5c'] as const) if (name in header) throw invalidProof(`header ${name} not accepted`, algorithms);
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw invalidProof('header cannot be decoded', algorithms, error);
  }
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw invalidProof('jwk carries private key members', algorithms);
  if (jwk.kty === 'RSA' && (typeof jwk.n !== 'string' || jwk.n.length < RSA_N_LENGTHS[0] || jwk.n.length > RSA_N_LENGTHS[1])) {
    throw invalidProof('RSA key outside 2048–4096 bits', algorithms);
  }
  // A huge public exponent makes verification many times dearer; every real key uses 65537.
  if (jwk.kty === 'RSA' && jwk.e !== 'AQAB') throw invalidProof('RSA public exponent is not 65537', algorithms);
  let jkt: string;
  try {
    jkt = await calculateJwkThumbprint(jwk, 'sha256');
  } catch (error) {
    throw invalidProof('jwk cannot be thumbprinted', algorithms, error);
  }
  if (jkt !== expected.jkt) throw invalidProof('proof key is not the key the token is bound to', algorithms);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...algorithms],
      maxTokenAge: options.maxAgeSeconds,
      clockTolerance: options.skewSeconds,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      currentDate: new Date(expected.nowMs),
    }));
  } catch (error) {
    // Anything that fails while checking a client's proof (WebCrypto refusing its key included) is a bad proof.
    throw invalidProof(error instanceof errors.JOSEError ? error.code : 'key or signature unusable', algorithms, error);
  }
  if (payload.iat! > expected.nowMs / 1000 + options.skewSeconds) throw invalidProof('iat in the future', algorithms);
  if (payload['htm'] !== expected.method) throw invalidProof('htm does not match the request method', algorithms);
  if (!sameUrl(payload['htu'], expected.url)) throw invalidProof('htu does not match the request URL', algorithms);
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalidProof('jti missing or too long', algorithms);
  if (payload['ath'] !== accessTokenHash(expected.accessToken)) throw invalidProof('ath does not match the access token', algorithms);
  if (options.nonce && !options.nonce.accepts(payload['nonce'])) {
    throw new GatewayError('use_dpop_nonce', 'DPoP proof without a current server nonce', {
      headers: { 'www-authenticate': `DPoP algs="${algorithms.join(' ')}", error="use_dpop_nonce"`, 'dpop-nonce': options.nonce.current() },
    });
  }
  return { jkt, jti };
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

/** `htu` compared after URL normalisation (case of scheme and host, default ports), query and fragment ignored. */
function sameUrl(htu: unknown, expected: string): boolean {
  if (typeof htu !== 'string' || htu.length > 4096) return false;
  let a: URL;
  let b: URL;
  try {
    a = new URL(htu);
    b = new URL(expected);
  } catch {
    return false;
  }
  return (a.protocol === 'https:' || a.protocol === 'http:') && a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname && a.username === '' && a.password === '';
}
