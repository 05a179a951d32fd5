/** Shared types of the rate-limit counter backends (memory and Redis). */

/** Milliseconds since the epoch. Injected so windows and buckets can be tested with a frozen clock. */
export type Clock = () => number;

/** What one limit allows; times in milliseconds. */
export type LimitSpec =
  | {
      /** `fixed_window`: at most `limit` per aligned window. `sliding_window`: weighted two-window estimate.
       * `sliding_log`: exact log of timestamps (only for low limits: memory grows with `limit`). */
      readonly algorithm: 'fixed_window' | 'sliding_window' | 'sliding_log';
      readonly limit: number;
      readonly windowMs: number;
    }
  | {
      /** Token bucket as GCRA: one token every `intervalMs` (may be fractional), at most `burst` at once. */
      readonly algorithm: 'token_bucket';
      readonly intervalMs: number;
      readonly burst: number;
    };

export type AlgorithmName = LimitSpec['algorithm'];

/** The outcome of one rate-limit decision. */
export interface Decision {
  readonly allowed: boolean;
  /** The quota the decision was made against (the burst for token buckets). */
  readonly limit: number;
  /** Requests still allowed right now, after this one. */
  readonly remaining: number;
  /** Time until the quota is fully available again, in ms. */
  readonly resetMs: number;
  /** When denied, the time until a retry can succeed, in ms; 0 when allowed. */
  readonly retryAfterMs: number;
}

/** A failure counter (brute-force protection): failures counted in the current window and time until it ends. */
export interface CountState {
  readonly count: number;
  /** Time until the counter (or the lockout it holds) expires, in ms; 0 when there is no counter. */
  readonly ttlMs: number;
}

/** One reservation of attempts against failure counters (see CounterBackend.reserve). */
export interface ReserveRequest {
  /** Counters to add one to. Failure counters: each key holds a count and an expiry, as `hit` keeps them. */
  readonly keys: readonly string[];
  /** Per key: the reservation is refused while that key's count is at or over it (0 = no threshold). */
  readonly thresholds: readonly number[];
  /** Window a counter starts on its first count, in ms. */
  readonly windowMs: number;
  /** When a reservation brings a key to its threshold, its expiry is pushed to at least this far out (a lockout), in ms. */
  readonly lockMs: number;
  /** Keys that refuse the reservation while they hold a live count (lockouts kept apart); never changed. Default none. */
  readonly guards?: readonly string[];
}

/** The outcome of a reservation. */
export interface Reservation {
  /** True when every key was below its threshold and no guard was live: each key was then counted. */
  readonly allowed: boolean;
  /** Per key, the state after the call (unchanged when refused). */
  readonly states: CountState[];
  /** Longest remaining life of a live guard, in ms; 0 when no guard is live. */
  readonly guardMs: number;
}

/** One stored entry, for the admin API listing. */
export interface CounterEntry {
  readonly key: string;
  readonly ttlMs: number;
}

/**
 * A counter backend. Keys are grouped: every key of one call shares its `group`, which becomes a Redis Cluster
 * hash tag, so each call is one round trip to one shard. Backends throw CounterUnavailableError when they cannot
 * decide (Redis down, timeout, circuit open); they never hang longer than their configured timeout.
 */
export interface CounterBackend {
  readonly kind: 'memory' | 'redis';
  /** Counts one request against `key` under `spec` and says whether it is allowed. Denied requests are not counted. */
  decide(key: string, spec: LimitSpec): Promise<Decision>;
  /** Reads failure counters without changing them. */
  peek(group: string, keys: readonly string[]): Promise<CountState[]>;
  /**
   * Adds one failure to each key. A counter starts a window of `windowMs` on its first failure; when it reaches
   * its threshold (`thresholds[i]`, 0 = none) its expiry is pushed to at least `lockMs` from now (a lockout).
   */
  hit(group: string, keys: readonly string[], windowMs: number, thresholds: readonly number[], lockMs: number): Promise<CountState[]>;
  /**
   * Reserves one attempt before its outcome is known, atomically for every key: refused (nothing changes) while a
   * guard is live or any key is at its threshold, else every key is counted at once, so N parallel attempts never
   * pass a threshold. The caller keeps the count when the attempt fails and calls `release` when it does not.
   */
  reserve(group: string, request: ReserveRequest): Promise<Reservation>;
  /** Takes back one reserved count from each live key (never below 0, expiry unchanged, missing keys untouched). */
  release(group: string, keys: readonly string[]): Promise<void>;
  /** Deletes failure counters. */
  clear(group: string, keys: readonly string[]): Promise<void>;
  /** Adds `member` to a set of distinct members seen within `windowMs` (at most `cap` kept); returns its size. */
  distinct(group: string, key: string, member: string, windowMs: number, cap: number): Promise<number>;
  /** Lists stored keys (full backend keys) that start with `prefix`, at most `max`. For the admin API only. */
  list(prefix: string, max: number): Promise<CounterEntry[]>;
  /** Deletes stored keys (full backend keys, as `list` returns them) starting with `prefix`; returns how many. */
  reset(prefix: string, max: number): Promise<number>;
  close(): Promise<void>;
}

/** Thrown by a backend that cannot answer (unreachable, timed out, circuit open). */
export class CounterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CounterUnavailableError';
  }
}
