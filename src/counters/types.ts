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
