import { createHash } from 'node:crypto';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError } from '../../counters/types.ts';
import type { RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';

/** The limit name DPoP replay checks are counted under in the counters' fallback metrics. */
const REPLAY_LIMIT = 'dpop_replay';
/** Live proofs remembered in memory at most; past it new proofs fail closed (503) until old ones expire. */
export const MEMORY_REPLAY_ENTRIES = 500_000;

/** The outcome of remembering a proof: new, seen before, or its key over its quota of live proofs. */
export type ReplayVerdict = 'new' | 'replayed' | 'key_over_quota';

/** Remembers the `jti` of each accepted DPoP proof for the proof window, so a proof is accepted once. */
export interface ReplayCache {
  remember(ctx: RequestContext, jkt: string, jti: string): Promise<ReplayVerdict>;
}

const unavailable = (cause?: unknown) => new GatewayError('service_unavailable', 'DPoP replay cache unavailable; fails closed', { cause, headers: { 'retry-after': '1' } });

/**
 * The replay cache for the gateway's counters: in memory, its own bounded table (never the table lockouts and rate
 * limits live in, so proofs cannot crowd those out, nor the other way round); with Redis, an atomic reservation in
 * the shared counters, so a proof used on one instance is refused on all. Either way each key (`jkt`) may have at
 * most `perKey` live proofs, so one client's own valid proofs cannot fill the cache for everyone else.
 */
export function replayCacheFor(counters: Counters | undefined, windowMs: number, perKey: number): ReplayCache {
  if (!counters || counters.shared.kind === 'memory') return new MemoryReplayCache(windowMs, perKey);
  return {
    async remember(ctx, jkt, jti) {
      const proofKey = createHash('sha256').update(`${jkt}\0${jti}`).digest('base64url');
      const keyKey = `k:${createHash('sha256').update(jkt).digest('base64url')}`;
      try {
        const reservation = await counters.withFallback(REPLAY_LIMIT, ctx, (b) => b.reserve('dpop', { keys: [proofKey, keyKey], thresholds: [1, perKey], windowMs, lockMs: windowMs }), 'closed');
        if (reservation.allowed) return 'new';
        return (reservation.states[0]?.count ?? 0) >= 1 ? 'replayed' : 'key_over_quota';
      } catch (error) {
        if (error instanceof CounterUnavailableError) throw unavailable(error);
        throw error;
      }
    },
  };
}

/** A bounded in-memory jti set with expiry; expired entries are swept from the oldest end as new ones arrive. */
export class MemoryReplayCache implements ReplayCache {
  /** Insertion-ordered: the oldest entries (earliest expiry) come first. */
  readonly #proofs = new Map<string, { readonly expiresAt: number; readonly keyHash: string }>();
  readonly #perKey = new Map<string, number>();
  readonly #windowMs: number;
  readonly #maxPerKey: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(windowMs: number, maxPerKey: number, maxEntries = MEMORY_REPLAY_ENTRIES, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#maxPerKey = maxPerKey;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  remember(_ctx: RequestContext | undefined, jkt: string, jti: string): Promise<ReplayVerdict> {
    const now = this.#now();
    this.#sweep(now);
    const keyHash = createHash('sha256').update(jkt).digest('base64url');
    const proofKey = createHash('sha256').update(`${jkt}\0${jti}`).digest('base64url');
    if (this.#proofs.has(proofKey)) return Promise.resolve('replayed');
    const live = this.#perKey.get(keyHash) ?? 0;
    if (live >= this.#maxPerKey) return Promise.resolve('key_over_quota');
    if (this.#proofs.size >= this.#maxEntries) return Promise.reject(unavailable());
    this.#proofs.set(proofKey, { expiresAt: now + this.#windowMs, keyHash });
    this.#perKey.set(keyHash, live + 1);
    return Promise.resolve('new');
  }

  /** Drops expired entries from the oldest end (a fixed window per entry keeps the map ordered by expiry). */
  #sweep(now: number): void {
    for (const [key, entry] of this.#proofs) {
      if (entry.expiresAt > now) break;
      this.#proofs.delete(key);
      const live = (this.#perKey.get(entry.keyHash) ?? 1) - 1;
      if (live <= 0) this.#perKey.delete(entry.keyHash);
      else this.#perKey.set(entry.keyHash, live);
    }
  }
}
