import type { Logger } from '../log.ts';
import type { CountersConfig } from './schema.ts';
import { MemoryCounter } from './memory.ts';
import { RedisCounter } from './redis.ts';
import type { Clock, CounterBackend } from './types.ts';

export { MemoryCounter } from './memory.ts';
export { RedisCounter } from './redis.ts';
export { CounterUnavailableError } from './types.ts';
export type { Clock, CounterBackend, CountState, Decision, LimitSpec } from './types.ts';

/** Brute-force protection of one login route, as the admin API needs it (registered at compile time). */
export interface LoginRegistration {
  /** Counter group (hash tag) of the route's failure counters. */
  readonly group: string;
  /** HMAC of an account identifier, as stored. */
  hashAccount(account: string): string;
}

/** Upper bound on tightened consumers remembered by one process. */
const MAX_TIGHTENED = 100_000;

/**
 * Consumers whose post-authentication rate limits incident response tightened: a factor (0 < f ≤ 1) applied to
 * their limits until a time (epoch ms). Reversible: `relax` restores the configured limits at once.
 */
export class RateTightenings {
  readonly #entries = new Map<string, { readonly factor: number; readonly until: number }>();

  tighten(consumer: string, factor: number, until: number): void {
    if (!(factor > 0 && factor <= 1)) throw new RangeError('tightening factor must be in (0, 1]');
    this.#entries.delete(consumer);
    this.#entries.set(consumer, { factor, until });
    if (this.#entries.size > MAX_TIGHTENED) this.#entries.delete(this.#entries.keys().next().value!);
  }

  relax(consumer: string): void {
    this.#entries.delete(consumer);
  }

  /** The factor in force for `consumer` at `now`, or undefined. */
  factorFor(consumer: string, now: number): number | undefined {
    if (this.#entries.size === 0) return undefined;
    const entry = this.#entries.get(consumer);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(consumer);
      return undefined;
    }
    return entry.factor;
  }
}

/**
 * The counter backends of one gateway process: `shared` (memory, or Redis shared by every instance) and `local`
 * (always in-process: the fallback of fail-open limits while Redis is unreachable). Built once at start.
 */
export class Counters {
  readonly shared: CounterBackend;
  readonly local: MemoryCounter;
  readonly clock: Clock;
  /** Login routes by `api:operationId`, for the admin API. Replaced on reload. */
  readonly logins = new Map<string, LoginRegistration>();
  /** Consumers under a tightened limit (incident response), fed from the invalidation bus. */
  readonly tightened = new RateTightenings();

  constructor(shared: CounterBackend, local: MemoryCounter, clock: Clock) {
    this.shared = shared;
    this.local = local;
    this.clock = clock;
  }

  async close(): Promise<void> {
    await this.shared.close();
    if (this.local !== this.shared) await this.local.close();
  }
}

/**
 * Builds the counters from `counters:` config. With Redis, waits up to `connectWaitMs` (default 2000) for the first
 * connection; if Redis is not there yet the gateway still starts and each limit applies its failure policy.
 */
export async function createCounters(config: CountersConfig, logger: Logger, options: { clock?: Clock; connectWaitMs?: number } = {}): Promise<Counters> {
  const clock = options.clock ?? Date.now;
  const local = new MemoryCounter({ maxKeys: config.max_keys, clock });
  if (config.kind === 'memory') return new Counters(local, local, clock);
  const redis = new RedisCounter({
    url: config.url,
    prefix: config.prefix,
    timeoutMs: config.timeout_ms,
    breakerFailures: config.breaker_failures,
    breakerCooldownMs: config.breaker_cooldown_ms,
    clock,
    logger,
  });
  if (!(await redis.waitReady(options.connectWaitMs ?? 2000))) {
    logger.warn('redis counters not reachable at start; limits apply their failure policy until it is');
  }
  return new Counters(redis, local, clock);
}
