import { hash } from 'node:crypto';
import type { Identity } from '../../pipeline/types.ts';
import type { TokenRevocations } from './revocations.ts';

/** Default most entries held; past it the oldest entry is dropped (bounded memory, ~1 KiB per entry). */
export const DEFAULT_VERIFIED_CACHE_ENTRIES = 10_000;
/**
 * Default longest time an entry is trusted, in ms, whatever the token's `exp`. It bounds how long a token signed
 * by a key the issuer has since withdrawn from its JWKS keeps being accepted.
 */
export const DEFAULT_VERIFIED_CACHE_TTL_MS = 60_000;

export interface VerifiedTokenCacheOptions {
  /** Most entries (default 10 000, at least 1). */
  readonly maxEntries?: number;
  /** Longest life of an entry in ms (default 60 000); an entry never outlives its token's `exp` either. */
  readonly maxTtlMs?: number;
  /** Clock in ms since the epoch (default Date.now). */
  readonly now?: () => number;
}

interface Entry {
  readonly identity: Identity;
  readonly expiresAtMs: number;
  readonly issuer: string;
  readonly subject: string;
  readonly issuedAt: number;
  readonly tokenId: string | undefined;
}

/**
 * A bounded cache of tokens that have already passed full verification (signature, claims, revocation), so the
 * next request with the same token skips the signature check (ES256 ≈ 150–250 µs). Security properties:
 * - keyed by the SHA-256 of the whole compact token: the token is never stored, and any change to it (a forged
 *   signature, an edited claim) is a different key and gets full verification;
 * - only successes are stored, and only by the caller that just verified them;
 * - an entry never outlives the token's `exp` (no clock-skew grace) nor `maxTtlMs`;
 * - revocations: `get` re-checks the revocation list on every hit, and `purgeSubject`/`purgeToken` drop entries
 *   when a revocation event arrives;
 * - one cache per verifier (per API config): a reload builds a new verifier and so a new, empty cache.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxTtlMs: number;
  readonly #now: () => number;

  /** @throws Error when `maxEntries` or `maxTtlMs` is not a positive number. */
  constructor(options: VerifiedTokenCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_VERIFIED_CACHE_ENTRIES;
    this.#maxTtlMs = options.maxTtlMs ?? DEFAULT_VERIFIED_CACHE_TTL_MS;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) throw new Error('verified token cache: maxEntries must be a positive integer');
    if (!(this.#maxTtlMs > 0)) throw new Error('verified token cache: maxTtlMs must be positive');
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The Identity of a token verified earlier, or undefined (not cached, expired, or revoked since: such entries
   * are dropped). The caller then verifies the token in full.
   */
  get(token: string, revocations?: TokenRevocations): Identity | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    if (
      revocations?.isRevoked({ issuer: entry.issuer, subject: entry.subject, issuedAt: entry.issuedAt, ...(entry.tokenId ? { tokenId: entry.tokenId } : {}) })
    ) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.identity;
  }

  /**
   * Remembers a token that has just passed full verification. Reads `iss`, `sub`, `iat`, `exp` and `jti` from the
   * identity's claims; a token without a numeric `exp` is not cached. `issuer` is the configured issuer the token was
   * checked against (revocations are scoped by it), for tokens that carry no `iss`.
   */
  set(token: string, identity: Identity, issuer?: string): void {
    const claims = identity.claims;
    const exp = claims['exp'];
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return;
    const now = this.#now();
    const expiresAtMs = Math.min(exp * 1000, now + this.#maxTtlMs);
    if (expiresAtMs <= now) return;
    const key = keyOf(token);
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, {
      identity,
      expiresAtMs,
      issuer: issuer ?? String(claims['iss'] ?? ''),
      subject: identity.subject,
      issuedAt: typeof claims['iat'] === 'number' ? claims['iat'] : 0,
      tokenId: typeof claims['jti'] === 'string' ? claims['jti'] : undefined,
    });
  }

  /** Drops every entry of `subject` (from `issuer`, or any issuer) issued before `before` (seconds). */
  purgeSubject(subject: string, before: number, issuer?: string): void {
    for (const [key, entry] of this.#entries) {
      if (entry.subject === subject && entry.issuedAt < before && (issuer === undefined || entry.issuer === issuer)) this.#entries.delete(key);
    }
  }

  /** Drops the entry of the token with this `jti`. */
  purgeToken(tokenId: string): void {
    for (const [key, entry] of this.#entries) if (entry.tokenId === tokenId) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

function keyOf(token: string): string {
  return hash('sha256', token, 'base64');
}

/** What `withVerifiedCache` wraps: the JWT verifier's `verify`. */
export interface TokenVerifier {
  verify(token: string): Promise<Identity>;
}

/**
 * Wraps a verifier so a token already verified is answered from `cache` (still checked against `revocations`),
 * and every other token is verified in full and, when valid, cached. Failures are never cached: an invalid token
 * costs a full verification every time, exactly as without the cache.
 */
export function withVerifiedCache(verifier: TokenVerifier, cache: VerifiedTokenCache, revocations?: TokenRevocations): TokenVerifier {
  return {
    verify(token: string): Promise<Identity> {
      const hit = cache.get(token, revocations);
      if (hit !== undefined) return Promise.resolve(hit);
      return verifier.verify(token).then((identity) => {
        cache.set(token, identity);
        return identity;
      });
    },
  };
}
