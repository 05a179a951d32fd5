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
import { CounterUnavailableError, type Clock, type CounterBackend, type CounterEntry, type CountState, type Decision, type LimitSpec, type Reservation, type ReserveRequest } from './types.ts';

interface Entry {
  /** Count, or TAT in µs for GCRA. */
  n: number;
  /** Previous window's count (sliding window). */
  prev: number;
  /** Window index the counts belong to. */
  window: number;
  /** Expiry on the injected clock, in ms. */
  expiresAt: number;
  /** Until when (injected clock, ms) the entry denies: a lockout or a limit at zero. It is never evicted before. */
  holdUntil: number;
  /** Position stamp of the entry's last insertion into a table (see Table). */
  seq: number;
  log?: number[];
  members?: Map<string, number>;
}

/** Least time between two full scans of a full held table for expired entries, in ms (bounds the work of a flood). */
const HELD_SCAN_INTERVAL_MS = 1000;

let sequence = 0;

/**
 * A Map in insertion order that finds its oldest entry in amortised O(1). A fresh iterator first walks every slot
 * freed at the old end since the Map last rehashed, so `keys().next()` per eviction made a flood of new keys
 * quadratic (measured: 100 000 evictions past a full 100 000-key table took 7.5 s). One long-lived iterator walks
 * each slot once; an entry moved to the end since it was seen carries a new `seq` and is skipped there.
 */
class Table {
  readonly map = new Map<string, Entry>();
  #cursor: MapIterator<[string, Entry]> | undefined;
  #head: [string, Entry, number] | undefined;

  get size(): number {
    return this.map.size;
  }

  /** Appends `entry` under `key` (moving it to the newest end if present). */
  set(key: string, entry: Entry): void {
    this.map.delete(key);
    entry.seq = ++sequence;
    this.map.set(key, entry);
  }

  /** The oldest entry, left in place. */
  oldest(): readonly [string, Entry, number] | undefined {
    for (;;) {
      const head = this.#head;
      if (head && this.map.get(head[0]) === head[1] && head[1].seq === head[2]) return head;
      this.#head = undefined;
      this.#cursor ??= this.map.entries();
      const next = this.#cursor.next();
      if (next.done) {
        this.#cursor = undefined;
        return undefined;
      }
      this.#head = [next.value[0], next.value[1], next.value[1].seq];
    }
  }

  clear(): void {
    this.map.clear();
    this.#cursor = undefined;
    this.#head = undefined;
  }
}

export interface MemoryCounterOptions {
  /** Most ordinary keys held; past it the least recently used one is dropped. Default 100 000. */
  readonly maxKeys?: number;
  /** Most denying entries (lockouts, limits at zero) held apart from the ordinary keys. Default `maxKeys`. */
  readonly maxHeld?: number;
  readonly clock?: Clock;
}

/**
 * In-process counters in two tables. Ordinary keys live in one Map in least-recently-used order (every touch moves
 * a key to the end), bounded by `maxKeys`; past it the oldest goes. Entries that currently deny (a failure counter
 * at its threshold, a lockout, a rate limit with nothing remaining) move to a second table, bounded by `maxHeld`,
 * from which nothing is evicted while it denies, so a flood of new keys can never lift a deny. When that table is
 * full, operations that would start a new lockout throw CounterUnavailableError (the caller's failure policy then
 * applies: login and auth fail closed) and a rate-limit deny stays in the ordinary table. Expiry is checked when a
 * key is touched and on a few of the oldest keys at each insert, so there is no timer per key. Exact for one
 * process; with several processes use Redis.
 */
export class MemoryCounter implements CounterBackend {
  readonly kind = 'memory' as const;
  readonly #entries = new Table();
  readonly #held = new Table();
  readonly #maxKeys: number;
  readonly #maxHeld: number;
  readonly #clock: Clock;
  #heldScannedAt = Number.NEGATIVE_INFINITY;

  constructor(options: MemoryCounterOptions = {}) {
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#maxHeld = options.maxHeld ?? this.#maxKeys;
    this.#clock = options.clock ?? Date.now;
  }

  /** Number of keys currently held in both tables (expired ones may linger until touched or swept). */
  get size(): number {
    return this.#entries.size + this.#held.size;
  }

  /** Number of entries in the table of denying entries. */
  get heldSize(): number {
    return this.#held.size;
  }

  decide(key: string, spec: LimitSpec): Promise<Decision> {
    return Promise.resolve(this.decideSync(key, spec));
  }

  /** As decide, synchronously (the memory backend never waits). */
  decideSync(key: string, spec: LimitSpec): Decision {
    const now = Math.floor(this.#clock());
    let stored: string;
    let entry: Entry;
    let decision: Decision;
    switch (spec.algorithm) {
      case 'fixed_window': {
        const window = windowIndex(now, spec.windowMs);
        stored = storageKey(key, ':fw');
        entry = this.#touch(stored, (window + 1) * spec.windowMs);
        if (entry.window !== window) {
          entry.window = window;
          entry.n = 0;
          entry.expiresAt = (window + 1) * spec.windowMs;
        }
        const allowed = entry.n < spec.limit;
        if (allowed) entry.n++;
        decision = fixedWindowDecision(allowed, entry.n, spec.limit, spec.windowMs, now);
        break;
      }
      case 'sliding_window': {
        const window = windowIndex(now, spec.windowMs);
        stored = storageKey(key, ':sw');
        entry = this.#touch(stored, (window + 2) * spec.windowMs);
        if (entry.window !== window) {
          entry.prev = entry.window === window - 1 ? entry.n : 0;
          entry.n = 0;
          entry.window = window;
        }
        entry.expiresAt = (window + 2) * spec.windowMs;
        const allowed = slidingAllows(entry.n, entry.prev, previousWeight(now, spec.windowMs), spec.limit);
        if (allowed) entry.n++;
        decision = slidingWindowDecision(allowed, entry.n, entry.prev, spec.limit, spec.windowMs, now);
        break;
      }
      case 'sliding_log': {
        stored = storageKey(key, ':sl');
        entry = this.#touch(stored, now + spec.windowMs);
        const log = (entry.log ??= []);
        let drop = 0;
        while (drop < log.length && log[drop]! <= now - spec.windowMs) drop++;
        if (drop > 0) log.splice(0, drop);
        const allowed = log.length < spec.limit;
        if (allowed) {
          log.push(now);
          entry.expiresAt = now + spec.windowMs;
        }
        decision = slidingLogDecision(allowed, log.length, log[0], spec.limit, spec.windowMs, now);
        break;
      }
      case 'token_bucket': {
        const nowUs = Math.round(this.#clock() * 1000);
        const interval = intervalMicros(spec.intervalMs);
        stored = storageKey(key, ':tb');
        entry = this.#touch(stored, 0);
        const step = gcra(nowUs, entry.n, interval, spec.burst);
        if (step.allowed) {
          entry.n = step.tatUs;
          entry.expiresAt = Math.ceil(step.tatUs / 1000);
        }
        decision = gcraDecision(step.allowed, step.tatUs, interval, spec.burst, nowUs);
        break;
      }
    }
    // A limit with nothing left denies the next request: kept out of eviction until its state expires.
    if (!decision.allowed || decision.remaining === 0) this.#hold(stored, entry, entry.expiresAt, now);
    return decision;
  }

  peek(group: string, keys: readonly string[]): Promise<CountState[]> {
    const now = this.#clock();
    return Promise.resolve(keys.map((k) => stateOf(this.#live(storageKey(group, k), now), now)));
  }

  hit(group: string, keys: readonly string[], windowMs: number, thresholds: readonly number[], lockMs: number): Promise<CountState[]> {
    return attempt(() => {
      const now = this.#clock();
      const stored = keys.map((k) => storageKey(group, k));
      const current = stored.map((k) => this.#live(k, now));
      this.#needRoom(current, stored, thresholds, now);
      return stored.map((k, i) => {
        const entry = current[i] ?? this.#create(k, now + windowMs, now);
        entry.n++;
        const threshold = thresholds[i] ?? 0;
        if (threshold > 0 && entry.n >= threshold) {
          entry.expiresAt = Math.max(entry.expiresAt, now + lockMs);
          this.#hold(k, entry, entry.expiresAt, now);
        }
        return stateOf(entry, now);
      });
    });
  }

  reserve(group: string, request: ReserveRequest): Promise<Reservation> {
    return attempt(() => {
      const now = this.#clock();
      let guardMs = 0;
      for (const g of request.guards ?? []) {
        const guard = this.#live(storageKey(group, g), now);
        if (guard && guard.n > 0) guardMs = Math.max(guardMs, Math.ceil(guard.expiresAt - now));
      }
      const stored = request.keys.map((k) => storageKey(group, k));
      const current = stored.map((k) => this.#live(k, now));
      const refused = guardMs > 0 || current.some((e, i) => (request.thresholds[i] ?? 0) > 0 && (e?.n ?? 0) >= request.thresholds[i]!);
      if (refused) return { allowed: false, states: current.map((e) => stateOf(e, now)), guardMs };
      this.#needRoom(current, stored, request.thresholds, now);
      const states = stored.map((k, i) => {
        const entry = current[i] ?? this.#create(k, now + request.windowMs, now);
        entry.n++;
        const threshold = request.thresholds[i] ?? 0;
        if (threshold > 0 && entry.n >= threshold) {
          entry.expiresAt = Math.max(entry.expiresAt, now + request.lockMs);
          this.#hold(k, entry, entry.expiresAt, now);
        }
        return stateOf(entry, now);
      });
      return { allowed: true, states, guardMs: 0 };
    });
  }

  release(group: string, keys: readonly string[]): Promise<void> {
    const now = this.#clock();
    for (const k of keys) {
      const entry = this.#live(storageKey(group, k), now);
      if (entry && entry.n > 0) entry.n--;
    }
    return Promise.resolve();
  }

  clear(group: string, keys: readonly string[]): Promise<void> {
    for (const k of keys) {
      const stored = storageKey(group, k);
      this.#entries.map.delete(stored);
      this.#held.map.delete(stored);
    }
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
    for (const table of [this.#held, this.#entries]) {
      for (const [key, entry] of table.map) {
        if (out.length >= max) break;
        if (key.startsWith(prefix) && entry.expiresAt > now) out.push({ key, ttlMs: Math.ceil(entry.expiresAt - now) });
      }
    }
    return Promise.resolve(out);
  }

  reset(prefix: string, max: number): Promise<number> {
    let removed = 0;
    for (const table of [this.#held, this.#entries]) {
      for (const key of [...table.map.keys()]) {
        if (removed >= max) break;
        if (key.startsWith(prefix)) {
          table.map.delete(key);
          removed++;
        }
      }
    }
    return Promise.resolve(removed);
  }

  close(): Promise<void> {
    this.#entries.clear();
    this.#held.clear();
    return Promise.resolve();
  }

  /** The live entry for `key`, or undefined (an expired one is dropped). Moves an ordinary one to the recent end. */
  #live(key: string, now: number): Entry | undefined {
    const held = this.#held.map.get(key);
    if (held) {
      if (held.expiresAt <= now) {
        this.#held.map.delete(key);
        return undefined;
      }
      if (held.holdUntil <= now) {
        this.#held.map.delete(key);
        this.#entries.set(key, held);
      }
      return held;
    }
    const entry = this.#entries.map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.map.delete(key);
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry;
  }

  /** The live entry for `key`, created fresh (expiring at `expiresAt`) if missing or expired. */
  #touch(key: string, expiresAt: number): Entry {
    const now = this.#clock();
    return this.#live(key, now) ?? this.#create(key, expiresAt, now);
  }

  /** A new ordinary entry for `key` (after making room). */
  #create(key: string, expiresAt: number, now: number): Entry {
    this.#sweep(now);
    const entry: Entry = { n: 0, prev: 0, window: Number.NaN, expiresAt, holdUntil: 0, seq: 0 };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Marks `entry` as denying until `until` and moves it to the held table when there is room (else it stays). */
  #hold(key: string, entry: Entry, until: number, now: number): void {
    entry.holdUntil = Math.max(entry.holdUntil, until);
    if (entry.holdUntil <= now || this.#held.map.has(key) || !this.#roomForHeld(1, now)) return;
    this.#entries.map.delete(key);
    this.#held.set(key, entry);
  }

  /** Throws when the keys that this failure count would bring to their threshold cannot all be held. */
  #needRoom(current: readonly (Entry | undefined)[], stored: readonly string[], thresholds: readonly number[], now: number): void {
    let needed = 0;
    current.forEach((entry, i) => {
      const threshold = thresholds[i] ?? 0;
      if (threshold > 0 && (entry?.n ?? 0) + 1 >= threshold && !this.#held.map.has(stored[i]!)) needed++;
    });
    if (needed > 0 && !this.#roomForHeld(needed, now)) {
      throw new CounterUnavailableError('memory counters: the lockout table is full');
    }
  }

  /** Whether `needed` more entries fit the held table, after dropping expired ones (a full scan at most once a second). */
  #roomForHeld(needed: number, now: number): boolean {
    if (this.#held.size + needed <= this.#maxHeld) return true;
    if (now - this.#heldScannedAt < HELD_SCAN_INTERVAL_MS) return false;
    this.#heldScannedAt = now;
    for (const [key, entry] of [...this.#held.map]) this.#release(key, entry, now);
    return this.#held.size + needed <= this.#maxHeld;
  }

  /** Drops an expired held entry, or returns one that no longer denies to the ordinary table. */
  #release(key: string, entry: Entry, now: number): void {
    if (entry.expiresAt <= now) this.#held.map.delete(key);
    else if (entry.holdUntil <= now) {
      this.#held.map.delete(key);
      this.#entries.set(key, entry);
    }
  }

  /**
   * Drops up to a few expired entries from the old end of both tables, then the oldest ordinary ones past the size
   * cap. An ordinary entry that still denies (its hold could not be placed earlier) moves to the held table if it
   * now fits, rather than being dropped.
   */
  #sweep(now: number): void {
    for (let checked = 0; checked < 4; checked++) {
      const head = this.#held.oldest();
      if (!head || (head[1].expiresAt > now && head[1].holdUntil > now)) break;
      this.#release(head[0], head[1], now);
    }
    for (let checked = 0; ; checked++) {
      const head = this.#entries.oldest();
      if (!head) break;
      const [key, entry] = head;
      const full = this.#entries.size >= this.#maxKeys;
      if (!full && (checked >= 4 || entry.expiresAt > now)) break;
      this.#entries.map.delete(key);
      if (full && entry.holdUntil > now && entry.expiresAt > now && this.#held.size < this.#maxHeld) this.#held.set(key, entry);
    }
  }
}

function stateOf(entry: Entry | undefined, now: number): CountState {
  return entry ? { count: entry.n, ttlMs: Math.ceil(entry.expiresAt - now) } : { count: 0, ttlMs: 0 };
}

/** Runs a synchronous backend operation as a promise, so a throw becomes a rejection like the Redis backend's. */
function attempt<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error as Error);
  }
}
