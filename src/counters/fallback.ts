/**
 * Making the local fallback of fail-open limits visible and bounded: why a decision fell back (a bounded reason
 * for metrics), a rate-limited log line, the readiness detail, each instance's share of a limit while it counts
 * alone, and which keys were decided locally recently (their shared counts miss those requests, so for a while
 * after Redis answers again a request must pass the local share too).
 */
import type { Logger } from '../log.ts';
import { BudgetExhaustedError } from './budget.ts';
import type { Clock, LimitSpec } from './types.ts';

/** Why a shared call fell back: the request's wait budget was used up, the call timed out, the circuit was open, or another failure. */
export type FallbackReason = 'budget' | 'timeout' | 'circuit_open' | 'unavailable';

/** One decision (or lockout lookup) made locally because the shared backend could not answer. */
export interface FallbackEvent {
  readonly backend: 'redis';
  readonly reason: FallbackReason;
  /** The limit's configured name, or `failure_backoff` for the authentication lockout lookup. */
  readonly limit: string;
}

/** The reason of a CounterUnavailableError, from its type and the messages the Redis backend writes. */
export function fallbackReason(error: Error): FallbackReason {
  if (error instanceof BudgetExhaustedError) return 'budget';
  if (error.message.includes('circuit open')) return 'circuit_open';
  const cause = error.cause instanceof Error ? error.cause.message : '';
  return /timed? ?out/i.test(cause) ? 'timeout' : 'unavailable';
}

const LOG_INTERVAL_MS = 10_000;
/** Fallback within this long makes the counters report `degraded`. */
const DEGRADED_FOR_MS = 5_000;
/** Most keys remembered as recently decided locally (oldest forgotten first). */
const MAX_RECOVERING = 100_000;

/**
 * The limit one instance enforces alone while the shared backend is unreachable: `1/instances` of it (at least
 * one request). Token buckets get `1/instances` of the burst and of the rate.
 */
export function shareOf(spec: LimitSpec, instances: number): LimitSpec {
  if (instances <= 1) return spec;
  if (spec.algorithm === 'token_bucket') return { ...spec, burst: Math.max(1, Math.floor(spec.burst / instances)), intervalMs: spec.intervalMs * instances };
  return { ...spec, limit: Math.max(1, Math.floor(spec.limit / instances)) };
}

/** How long a key's local decisions still matter after the last one: two windows (the sliding estimate reads the previous one). */
function memoryMs(spec: LimitSpec): number {
  return 2 * (spec.algorithm === 'token_bucket' ? spec.burst * spec.intervalMs : spec.windowMs);
}

export class FallbackTracker {
  readonly #logger: Logger | undefined;
  readonly #clock: Clock;
  readonly #recovering = new Map<string, number>();
  #listener: ((event: FallbackEvent) => void) | undefined;
  #lastAt = Number.NEGATIVE_INFINITY;
  #loggedAt = Number.NEGATIVE_INFINITY;
  #unlogged = 0;
  #episode = 0;
  #recoveryLoggedAt = Number.NEGATIVE_INFINITY;

  constructor(logger: Logger | undefined, clock: Clock) {
    this.#logger = logger;
    this.#clock = clock;
  }

  /** Receives every fallback event (the metrics counter). */
  set listener(listener: ((event: FallbackEvent) => void) | undefined) {
    this.#listener = listener;
  }

  /** Records one fallback: notifies the listener, logs at most once per 10 s, and remembers the key when given. */
  record(event: FallbackEvent, instances: number, key?: string, spec?: LimitSpec): void {
    const now = this.#clock();
    this.#lastAt = now;
    this.#episode++;
    this.#unlogged++;
    this.#listener?.(event);
    if (key !== undefined && spec !== undefined) {
      this.#recovering.delete(key);
      this.#recovering.set(key, now + memoryMs(spec));
      if (this.#recovering.size > MAX_RECOVERING) this.#recovering.delete(this.#recovering.keys().next().value!);
    }
    if (now - this.#loggedAt < LOG_INTERVAL_MS) return;
    this.#logger?.warn(
      { backend: event.backend, reason: event.reason, limit: event.limit, fallbacks: this.#unlogged, instances },
      'counter backend did not answer; fail-open limits decide locally on this instance’s share',
    );
    this.#loggedAt = now;
    this.#unlogged = 0;
  }

  /** The shared backend answered: closes a fallback episode with a log line (at most one per 10 s). */
  answered(): void {
    if (this.#episode === 0) return;
    const now = this.#clock();
    if (now - this.#recoveryLoggedAt >= LOG_INTERVAL_MS) {
      this.#logger?.info({ fallbacks: this.#episode }, 'counter backend answering again; shared counting resumed');
      this.#recoveryLoggedAt = now;
    }
    this.#episode = 0;
  }

  /** Whether `key` was decided locally recently enough that its shared count is missing requests. */
  recovering(key: string): boolean {
    if (this.#recovering.size === 0) return false;
    const until = this.#recovering.get(key);
    if (until === undefined) return false;
    if (until > this.#clock()) return true;
    this.#recovering.delete(key);
    return false;
  }

  /** Whether a fallback happened in the last few seconds. */
  get recent(): boolean {
    return this.#clock() - this.#lastAt < DEGRADED_FOR_MS;
  }
}
