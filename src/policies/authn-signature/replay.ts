import { createHash } from 'node:crypto';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError } from '../../counters/types.ts';
import type { RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';

/** The limit name nonce checks are counted under in the counters' fallback metrics. */
const NONCE_LIMIT = 'signature_nonce';
/** Counter group of the nonces (a Redis Cluster hash tag). */
const GROUP = 'sig-nonce';
/** Live nonces remembered in memory at most, over every key; past it new signatures fail closed (503). */
export const MEMORY_NONCE_ENTRIES = 500_000;

/** The outcome of remembering a nonce: new, seen before, or its key over its quota of live nonces. */
export type NonceVerdict = 'new' | 'replayed' | 'key_over_quota';

/** Remembers the nonce of each accepted signature for the age window, so a signature is accepted once. */
export interface NonceCache {
  /** `limits`: this API's window and per-key quota (default: the ones the cache was made with). */
  remember(ctx: RequestContext | undefined, keyid: string, nonce: string, limits?: NonceLimits): Promise<NonceVerdict>;
}

/** How long a nonce is remembered, and how many live nonces one key may have. */
export interface NonceLimits {
  readonly windowMs: number;
  readonly perKey: number;
}

const unavailable = (cause?: unknown) => new GatewayError('service_unavailable', 'signature nonce cache unavailable; fails closed', { cause, headers: { 'retry-after': '1' } });
const hash = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * The nonce cache over the gateway's counters. With Redis, one atomic reservation in the shared counters, so a
 * nonce accepted on one instance is refused on all (no local fallback: a replay check that cannot be shared fails
 * closed, 503). In memory, a table of its own, bounded, never the one rate limits live in. Either way each key may
 * have at most `perKey` live nonces. Nonces are stored hashed with their key id: never the values, bounded length.
 * @param windowMs how long a nonce is remembered: the age window plus the clock skew on both sides.
 */
export function nonceCacheFor(counters: Counters | undefined, windowMs: number, perKey: number): NonceCache {
  if (!counters || counters.shared.kind === 'memory') return new MemoryNonceCache(windowMs, perKey);
  return {
    async remember(ctx, keyid, nonce, limits = { windowMs, perKey }) {
      const { windowMs, perKey } = limits;
      const nonceKey = hash(`${keyid}\0${nonce}`);
      const keyKey = `k:${hash(keyid)}`;
      try {
        const reservation = await counters.withFallback(NONCE_LIMIT, ctx, (b) => b.reserve(GROUP, { keys: [nonceKey, keyKey], thresholds: [1, perKey], windowMs, lockMs: windowMs }), 'closed');
        if (reservation.allowed) return 'new';
        return (reservation.states[0]?.count ?? 0) >= 1 ? 'replayed' : 'key_over_quota';
      } catch (error) {
        if (error instanceof CounterUnavailableError) throw unavailable(error);
        throw error;
      }
    },
  };
}

/** A bounded in-memory nonce set with expiry; expired entries are swept from the oldest end as new ones arrive. */
export class MemoryNonceCache implements NonceCache {
  /** Insertion-ordered with one window for all: the oldest entries (earliest expiry) come first. */
  readonly #nonces = new Map<string, { readonly expiresAt: number; readonly keyHash: string }>();
  readonly #perKey = new Map<string, number>();
  readonly #windowMs: number;
  readonly #maxPerKey: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(windowMs: number, maxPerKey: number, maxEntries = MEMORY_NONCE_ENTRIES, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#maxPerKey = maxPerKey;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Nonces held now (for tests of the bound). */
  get size(): number {
    return this.#nonces.size;
  }

  remember(_ctx: RequestContext | undefined, keyid: string, nonce: string, limits?: NonceLimits): Promise<NonceVerdict> {
    const now = this.#now();
    this.#sweep(now);
    const keyHash = hash(keyid);
    const nonceKey = hash(`${keyid}\0${nonce}`);
    // Entries of different windows (APIs, or one API before and after a reload) expire out of insertion order: an
    // expired one the sweep has not reached yet is only held a little longer, never taken for a live one.
    const seen = this.#nonces.get(nonceKey);
    if (seen && seen.expiresAt > now) return Promise.resolve('replayed');
    const live = this.#perKey.get(keyHash) ?? 0;
    if (live >= (limits?.perKey ?? this.#maxPerKey)) return Promise.resolve('key_over_quota');
    if (this.#nonces.size >= this.#maxEntries) return Promise.reject(unavailable());
    if (seen) this.#forget(nonceKey, seen.keyHash);
    this.#nonces.set(nonceKey, { expiresAt: now + (limits?.windowMs ?? this.#windowMs), keyHash });
    this.#perKey.set(keyHash, live + 1);
    return Promise.resolve('new');
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#nonces) {
      if (entry.expiresAt > now) break;
      this.#forget(key, entry.keyHash);
    }
  }

  #forget(nonceKey: string, keyHash: string): void {
    this.#nonces.delete(nonceKey);
    const live = (this.#perKey.get(keyHash) ?? 1) - 1;
    if (live <= 0) this.#perKey.delete(keyHash);
    else this.#perKey.set(keyHash, live);
  }
}
