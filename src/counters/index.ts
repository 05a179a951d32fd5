import type { Logger } from '../log.ts';
import { WaitBudget } from './budget.ts';
import { FallbackTracker, fallbackReason, shareOf, type FallbackEvent } from './fallback.ts';
import { InstanceHeartbeat } from './instances.ts';
import type { CountersConfig } from './schema.ts';
import { MemoryCounter } from './memory.ts';
import { RedisCounter } from './redis.ts';
import { CounterUnavailableError, type Clock, type CounterBackend, type Decision, type LimitSpec } from './types.ts';

export { MemoryCounter } from './memory.ts';
export { RedisCounter } from './redis.ts';
export { CounterUnavailableError } from './types.ts';
export type { Clock, CounterBackend, CountState, Decision, LimitSpec } from './types.ts';
export type { FallbackEvent, FallbackReason } from './fallback.ts';

/**
 * Brute-force protection of one login route, as the admin API needs it. Registered by the factory into the route
 * table being compiled (RouteTable.logins), so it lives and dies with that table.
 */
export interface LoginRegistration {
  /** Counter group (hash tag) of the route's failure counters. */
  readonly group: string;
  /** HMAC of an account identifier as a client sent it (normalised here: NFKC, trimmed, lower-cased), as stored. */
  hashAccount(account: string): string;
  /** The network a client address is counted under (IPv6 aggregated by `counters.ipv6_prefix`). */
  network(ip: string): string;
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

/** Options of one shared-backend decision. */
export interface DecideOptions {
  /** `open` decides locally (on this instance's share) when the shared backend cannot answer; `closed` rethrows. */
  readonly failure: 'open' | 'closed';
  /** The limit's name, for the fallback metric and log. */
  readonly limit: string;
  /** The request the call belongs to: all its shared calls share one wait budget of `timeout_ms`. */
  readonly owner?: object;
}

export interface CountersOptions {
  /** Longest total wait of one request on the shared backend, in ms (the Redis `timeout_ms`). */
  readonly timeoutMs?: number;
  /** Fixed number of instances sharing the backend; undefined = learned from `heartbeat`. */
  readonly instances?: number;
  readonly heartbeat?: InstanceHeartbeat;
  readonly logger?: Logger;
}

/**
 * The counter backends of one gateway process: `shared` (memory, or Redis shared by every instance) and `local`
 * (always in-process: the fallback of fail-open limits while Redis is unreachable). Built once at start.
 *
 * With a shared Redis, every fail-open decision Redis admits is also counted locally against this instance's
 * share of the limit (limit / instances). So when Redis stops answering, the local fallback continues from what
 * this instance already admitted in the window, up to its share, instead of starting from zero with the whole
 * limit; and for two windows after a key was decided locally, a request must pass the local share as well as Redis
 * (whose count misses the locally admitted requests). Every fallback is counted (`onFallback`), logged at most
 * once per 10 s, and reported by `health`.
 */
export class Counters {
  readonly shared: CounterBackend;
  readonly local: MemoryCounter;
  readonly clock: Clock;
  /** Consumers under a tightened limit (incident response), fed from the invalidation bus. */
  readonly tightened = new RateTightenings();
  readonly #timeoutMs: number;
  readonly #budgets = new WeakMap<object, WaitBudget>();
  readonly #fixedInstances: number | undefined;
  readonly #heartbeat: InstanceHeartbeat | undefined;
  readonly #fallback: FallbackTracker;
  readonly #shares = new WeakMap<LimitSpec, { readonly instances: number; readonly spec: LimitSpec }>();
  #beating = false;

  constructor(shared: CounterBackend, local: MemoryCounter, clock: Clock, options: CountersOptions = {}) {
    this.shared = shared;
    this.local = local;
    this.clock = clock;
    this.#timeoutMs = options.timeoutMs ?? 50;
    this.#fixedInstances = options.instances;
    this.#heartbeat = options.instances === undefined ? options.heartbeat : undefined;
    this.#fallback = new FallbackTracker(options.logger, clock);
  }

  /** Called once per decision or lookup made locally because the shared backend did not answer (the metric). */
  set onFallback(listener: ((event: FallbackEvent) => void) | undefined) {
    this.#fallback.listener = listener;
  }

  /** Instances sharing the backend: `counters.instances` when configured, else the heartbeat count (1 before any). */
  get instances(): number {
    return this.#fixedInstances ?? this.#heartbeat?.count ?? 1;
  }

  /**
   * `ok`, or `degraded` while the Redis circuit breaker is not closed or a fallback happened in the last 5 s.
   * Reported on /readyz; it does not fail readiness (every instance shares the Redis, so failing them all would
   * turn a fail-open limit into an outage).
   */
  health(): 'ok' | 'degraded' {
    if (this.shared === this.local) return 'ok';
    const breaker = (this.shared as Partial<Pick<RedisCounter, 'breakerState'>>).breakerState;
    return (breaker !== undefined && breaker !== 'closed') || this.#fallback.recent ? 'degraded' : 'ok';
  }

  /**
   * Counts one request against `key` and says whether it is allowed, under the limit's failure policy. Throws
   * CounterUnavailableError when the shared backend cannot answer and `failure` is `closed`; never waits longer
   * than what is left of the owner's budget.
   */
  async decide(key: string, spec: LimitSpec, options: DecideOptions): Promise<Decision> {
    if (this.shared === this.local) return this.local.decideSync(key, spec);
    this.#startHeartbeat();
    let decision: Decision;
    try {
      decision = await this.#within(options.owner, () => this.shared.decide(key, spec));
    } catch (error) {
      if (!(error instanceof CounterUnavailableError) || options.failure === 'closed') throw error;
      const share = this.#share(spec);
      this.#fallback.record({ backend: 'redis', reason: fallbackReason(error), limit: options.limit }, this.instances, key, spec);
      return this.local.decideSync(key, share);
    }
    this.#fallback.answered();
    if (!decision.allowed || options.failure === 'closed') return decision;
    const mine = this.local.decideSync(key, this.#share(spec));
    return mine.allowed || !this.#fallback.recovering(key) ? decision : mine;
  }

  /**
   * Runs `run` on the shared backend within the owner's wait budget; when the backend cannot answer, runs it on
   * the local one instead (counted as a fallback of `limit`) or, with `failure: 'closed'`, rethrows the
   * CounterUnavailableError (no local decision, no fallback counted).
   */
  async withFallback<T>(limit: string, owner: object | undefined, run: (backend: CounterBackend) => Promise<T>, failure: 'open' | 'closed' = 'open'): Promise<T> {
    if (this.shared === this.local) return run(this.local);
    try {
      const result = await this.#within(owner, () => run(this.shared));
      this.#fallback.answered();
      return result;
    } catch (error) {
      if (!(error instanceof CounterUnavailableError) || failure === 'closed') throw error;
      this.#fallback.record({ backend: 'redis', reason: fallbackReason(error), limit }, this.instances);
      return run(this.local);
    }
  }

  /**
   * Runs one call on a given backend within the owner's wait budget, without fallback (settling what an earlier
   * call reserved there). Throws CounterUnavailableError when the budget is used up.
   */
  within<T>(owner: object | undefined, call: () => Promise<T>): Promise<T> {
    return this.#within(owner, call);
  }

  async close(): Promise<void> {
    await this.#heartbeat?.stop();
    await this.shared.close();
    if (this.local !== this.shared) await this.local.close();
  }

  #within<T>(owner: object | undefined, call: () => Promise<T>): Promise<T> {
    if (owner === undefined) return call();
    let budget = this.#budgets.get(owner);
    if (!budget) {
      budget = new WaitBudget(this.#timeoutMs);
      this.#budgets.set(owner, budget);
    }
    return budget.run(call);
  }

  #share(spec: LimitSpec): LimitSpec {
    const instances = this.instances;
    if (instances <= 1) return spec;
    const cached = this.#shares.get(spec);
    if (cached?.instances === instances) return cached.spec;
    const share = shareOf(spec, instances);
    this.#shares.set(spec, { instances, spec: share });
    return share;
  }

  /** The heartbeat starts with the first decision, so `rampart check` and idle tools never count as instances. */
  #startHeartbeat(): void {
    if (this.#beating || !this.#heartbeat) return;
    this.#beating = true;
    void this.#heartbeat.start();
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
  return new Counters(redis, local, clock, {
    timeoutMs: config.timeout_ms,
    ...(config.instances === undefined ? {} : { instances: config.instances }),
    heartbeat: new InstanceHeartbeat(redis.client, `${redis.prefix}{instances}`),
    logger,
  });
}
