import {
  fixedWindowDecision,
  gcra,
  gcraDecision,
  intervalMicros,
  previousWeight,
  slidingAllows,
  slidingLogDecision,
  slidingWindowDecision,
  storageKey,
  windowIndex,
} from './algorithms.ts';
import type { Clock, CounterBackend, CounterEntry, CountState, Decision, LimitSpec } from './types.ts';

interface Entry {
  /** Count, or TAT in µs for GCRA. */
  n: number;
  /** Previous window's count (sliding window). */
  prev: number;
  /** Window index the counts belong to. */
  window: number;
  /** Expiry on the injected clock, in ms. */
  expiresAt: number;
  log?: number[];
  members?: Map<string, number>;
}

export interface MemoryCounterOptions {
  /** Most keys held; past it the least recently used key is dropped. Default 100 000. */
  readonly maxKeys?: number;
  readonly clock?: Clock;
}

/**
 * In-process counters: one Map in least-recently-used order (every touch moves a key to the end), bounded by
 * `maxKeys`. Expiry is checked when a key is touched and on a few of the oldest keys at each insert, so there is
 * no timer per key. Exact for one process; with several processes use Redis.
 */
export class MemoryCounter implements CounterBackend {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;
  readonly #clock: Clock;

  constructor(options: MemoryCounterOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Number of keys currently held (expired ones may linger until touched or swept). */
  get size(): number {
    return this.#entries.size;
  }

  decide(key: string, spec: LimitSpec): Promise<Decision> {
    return Promise.resolve(this.decideSync(key, spec));
  }

  /** As decide, synchronously (the memory backend never waits). */
  decideSync(key: string, spec: LimitSpec): Decision {
    const now = Math.floor(this.#clock());
    switch (spec.algorithm) {
      case 'fixed_window': {
        const window = windowIndex(now, spec.windowMs);
        const entry = this.#touch(storageKey(key, ':fw'), (window + 1) * spec.windowMs);
        if (entry.window !== window) {
          entry.window = window;
          entry.n = 0;
          entry.expiresAt = (window + 1) * spec.windowMs;
        }
        const allowed = entry.n < spec.limit;
        if (allowed) entry.n++;
        return fixedWindowDecision(allowed, entry.n, spec.limit, spec.windowMs, now);
      }
      case 'sliding_window': {
        const window = windowIndex(now, spec.windowMs);
        const entry = this.#touch(storageKey(key, ':sw'), (window + 2) * spec.windowMs);
        if (entry.window !== window) {
          entry.prev = entry.window === window - 1 ? entry.n : 0;
          entry.n = 0;
          entry.window = window;
        }
        entry.expiresAt = (window + 2) * spec.windowMs;
        const allowed = slidingAllows(entry.n, entry.prev, previousWeight(now, spec.windowMs), spec.limit);
        if (allowed) entry.n++;
        return slidingWindowDecision(allowed, entry.n, entry.prev, spec.limit, spec.windowMs, now);
      }
      case 'sliding_log': {
        const entry = this.#touch(storageKey(key, ':sl'), now + spec.windowMs);
        const log = (entry.log ??= []);
        let drop = 0;
        while (drop < log.length && log[drop]! <= now - spec.windowMs) drop++;
        if (drop > 0) log.splice(0, drop);
        const allowed = log.length < spec.limit;
        if (allowed) {
          log.push(now);
          entry.expiresAt = now + spec.windowMs;
        }
        return slidingLogDecision(allowed, log.length, log[0], spec.limit, spec.windowMs, now);
      }
      case 'token_bucket': {
        const nowUs = Math.round(this.#clock() * 1000);
        const interval = intervalMicros(spec.intervalMs);
        const entry = this.#touch(storageKey(key, ':tb'), 0);
        const step = gcra(nowUs, entry.n, interval, spec.burst);
        if (step.allowed) {
          entry.n = step.tatUs;
          entry.expiresAt = Math.ceil(step.tatUs / 1000);
        }
        return gcraDecision(step.allowed, step.tatUs, interval, spec.burst, nowUs);
      }
    }
  }

  peek(group: string, keys: readonly string[]): Promise<CountState[]> {
    const now = this.#clock();
    return Promise.resolve(
      keys.map((k) => {
        const entry = this.#live(storageKey(group, k), now);
        return entry ? { count: entry.n, ttlMs: Math.ceil(entry.expiresAt - now) } : { count: 0, ttlMs: 0 };
      }),
    );
  }

  hit(group: string, keys: readonly string[], windowMs: number, thresholds: readonly number[], lockMs: number): Promise<CountState[]> {
    const now = this.#clock();
    return Promise.resolve(
      keys.map((k, i) => {
        const entry = this.#touch(storageKey(group, k), now + windowMs);
        entry.n++;
        const threshold = thresholds[i] ?? 0;
        if (threshold > 0 && entry.n >= threshold) entry.expiresAt = Math.max(entry.expiresAt, now + lockMs);
        return { count: entry.n, ttlMs: Math.ceil(entry.expiresAt - now) };
      }),
    );
  }

  clear(group: string, keys: readonly string[]): Promise<void> {
    for (const k of keys) this.#entries.delete(storageKey(group, k));
    return Promise.resolve();
  }

  distinct(group: string, key: string, member: string, windowMs: number, cap: number): Promise<number> {
    const now = this.#clock();
    const entry = this.#touch(storageKey(group, key), now + windowMs);
    const members = (entry.members ??= new Map());
    for (const [m, at] of members) {
      if (at > now - windowMs) break;
      members.delete(m);
    }
    members.delete(member);
    members.set(member, now);
    while (members.size > cap) members.delete(members.keys().next().value!);
    entry.expiresAt = now + windowMs;
    return Promise.resolve(members.size);
  }

  list(prefix: string, max: number): Promise<CounterEntry[]> {
    const now = this.#clock();
    const out: CounterEntry[] = [];
    for (const [key, entry] of this.#entries) {
      if (out.length >= max) break;
      if (key.startsWith(prefix) && entry.expiresAt > now) out.push({ key, ttlMs: Math.ceil(entry.expiresAt - now) });
    }
    return Promise.resolve(out);
  }

  reset(prefix: string, max: number): Promise<number> {
    let removed = 0;
    for (const key of [...this.#entries.keys()]) {
      if (removed >= max) break;
      if (key.startsWith(prefix)) {
        this.#entries.delete(key);
        removed++;
      }
    }
    return Promise.resolve(removed);
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }

  /** The live entry for `key`, or undefined (an expired one is dropped). Moves it to the most recent end. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(key, entry);
    return entry;
  }

  /** The live entry for `key`, created fresh (expiring at `expiresAt`) if missing or expired. */
  #touch(key: string, expiresAt: number): Entry {
    const now = this.#clock();
    const existing = this.#live(key, now);
    if (existing) return existing;
    this.#sweep(now);
    const entry: Entry = { n: 0, prev: 0, window: Number.NaN, expiresAt };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Drops up to a few expired entries from the old end, then the oldest ones past the size cap. */
  #sweep(now: number): void {
    let checked = 0;
    for (const [key, entry] of this.#entries) {
      if (checked++ >= 4) break;
      if (entry.expiresAt <= now) this.#entries.delete(key);
    }
    while (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
