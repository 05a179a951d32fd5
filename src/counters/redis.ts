import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../log.ts';
import {
  fixedWindowDecision,
  intervalMicros,
  previousWeight,
  slidingLogDecision,
  slidingWindowDecision,
  gcraDecision,
  storageKey,
  windowIndex,
} from './algorithms.ts';
import { CircuitBreaker } from './breaker.ts';
import { DISTINCT, FIXED_WINDOW, GCRA, HIT, PEEK, RELEASE, RESERVE, SLIDING_LOG, SLIDING_WINDOW } from './scripts.ts';
import { CounterUnavailableError, type Clock, type CounterBackend, type CounterEntry, type CountState, type Decision, type LimitSpec, type Reservation, type ReserveRequest } from './types.ts';

export interface RedisCounterOptions {
  /** `redis://host:port/db` or `rediss://…`; may carry credentials (it comes from a secret reference). */
  readonly url: string;
  /** Prefix of every key (default `rampart:`). */
  readonly prefix?: string;
  /** Longest wait for one command, in ms (default 50); then the call fails and the limit's failure policy applies. */
  readonly timeoutMs?: number;
  /** Consecutive failures that open the circuit breaker (default 3). */
  readonly breakerFailures?: number;
  /** How long the breaker stays open before probing again, in ms (default 1000). */
  readonly breakerCooldownMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

type Reply = (string | number)[];
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
/** Script name → [Lua, number of keys]; undefined = variadic (the first argument is the key count). */
const SCRIPTS: Record<string, readonly [string, number | undefined]> = {
  rlFixed: [FIXED_WINDOW, 1],
  rlSliding: [SLIDING_WINDOW, 2],
  rlLog: [SLIDING_LOG, 1],
  rlGcra: [GCRA, 1],
  rlHit: [HIT, undefined],
  rlPeek: [PEEK, undefined],
  rlDistinct: [DISTINCT, 1],
  rlReserve: [RESERVE, undefined],
  rlRelease: [RELEASE, undefined],
};

/**
 * Counters in Redis shared by every gateway instance. Each call is one Lua script (defined once; ioredis sends
 * EVALSHA and falls back to EVAL on NOSCRIPT). Commands are never queued while disconnected, time out after
 * `timeoutMs`, and a circuit breaker fails calls fast while Redis is down, so a dead Redis never makes a request
 * wait longer than the timeout.
 */
export class RedisCounter implements CounterBackend {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  readonly prefix: string;
  readonly #clock: Clock;
  readonly #breaker: CircuitBreaker;
  readonly #logger: Logger | undefined;
  #up = true;

  constructor(options: RedisCounterOptions) {
    this.prefix = options.prefix ?? 'rampart:';
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger;
    this.#breaker = new CircuitBreaker(options.breakerFailures ?? 3, options.breakerCooldownMs ?? 1000);
    const timeout = options.timeoutMs ?? 50;
    const redisOptions: RedisOptions = {
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: false,
    };
    this.client = new Redis(options.url, redisOptions);
    this.client.on('error', (error: Error) => this.#state(false, error));
    this.client.on('ready', () => this.#state(true));
    for (const [name, [lua, numberOfKeys]] of Object.entries(SCRIPTS)) {
      this.client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
    }
  }

  /** State of the circuit breaker in front of Redis (for the admin API, metrics and tests). */
  get breakerState(): 'closed' | 'open' | 'half_open' {
    return this.#breaker.state;
  }

  /** Resolves once connected, or after `ms` (whichever first); never rejects. */
  async waitReady(ms: number): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        resolve(false);
      }, ms);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once('ready', onReady);
    });
  }

  async decide(key: string, spec: LimitSpec): Promise<Decision> {
    const now = Math.floor(this.#clock());
    switch (spec.algorithm) {
      case 'fixed_window': {
        const window = windowIndex(now, spec.windowMs);
        const ttl = (window + 1) * spec.windowMs - now + 1000;
        const [allowed, count] = (await this.#call('rlFixed', this.#key(key, `:fw:${window}`), spec.limit, ttl)) as number[];
        return fixedWindowDecision(allowed === 1, count!, spec.limit, spec.windowMs, now);
      }
      case 'sliding_window': {
        const window = windowIndex(now, spec.windowMs);
        const weight = previousWeight(now, spec.windowMs);
        const ttl = 2 * spec.windowMs + 1000;
        const [allowed, current, previous] = (await this.#call(
          'rlSliding',
          this.#key(key, `:sw:${window}`),
          this.#key(key, `:sw:${window - 1}`),
          spec.limit,
          String(weight),
          ttl,
        )) as number[];
        return slidingWindowDecision(allowed === 1, current!, previous!, spec.limit, spec.windowMs, now);
      }
      case 'sliding_log': {
        const member = `${now}:${randomBytes(6).toString('base64url')}`;
        const [allowed, count, oldest] = (await this.#call('rlLog', this.#key(key, ':sl'), now, spec.windowMs, spec.limit, member)) as Reply;
        const first = Number(oldest);
        return slidingLogDecision(allowed === 1, Number(count), first < 0 ? undefined : first, spec.limit, spec.windowMs, now);
      }
      case 'token_bucket': {
        const nowUs = Math.round(this.#clock() * 1000);
        const interval = intervalMicros(spec.intervalMs);
        const [allowed, tat] = (await this.#call('rlGcra', this.#key(key, ':tb'), nowUs, interval, spec.burst)) as Reply;
        return gcraDecision(allowed === 1, Number(tat), interval, spec.burst, nowUs);
      }
    }
  }

  async peek(group: string, keys: readonly string[]): Promise<CountState[]> {
    const reply = (await this.#call('rlPeek', ...this.#keys(group, keys), Math.floor(this.#clock()))) as Reply;
    return pairs(reply);
  }

  async hit(group: string, keys: readonly string[], windowMs: number, thresholds: readonly number[], lockMs: number): Promise<CountState[]> {
    const now = Math.floor(this.#clock());
    const reply = (await this.#call('rlHit', ...this.#keys(group, keys), now, windowMs, lockMs, ...keys.map((_, i) => thresholds[i] ?? 0))) as Reply;
    return pairs(reply);
  }

  async reserve(group: string, request: ReserveRequest): Promise<Reservation> {
    const { keys, thresholds, windowMs, lockMs } = request;
    const guards = request.guards ?? [];
    const reply = (await this.#call(
      'rlReserve',
      ...this.#keys(group, [...keys, ...guards]),
      Math.floor(this.#clock()),
      windowMs,
      lockMs,
      keys.length,
      ...keys.map((_, i) => thresholds[i] ?? 0),
    )) as Reply;
    return { allowed: Number(reply[0]) === 1, guardMs: Number(reply[1]), states: pairs(reply.slice(2)) };
  }

  async release(group: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#call('rlRelease', ...this.#keys(group, keys), Math.floor(this.#clock()));
  }

  async clear(group: string, keys: readonly string[]): Promise<void> {
    await this.#guard(() => this.client.del(...keys.map((k) => this.#key(group, k))));
  }

  async distinct(group: string, key: string, member: string, windowMs: number, cap: number): Promise<number> {
    return Number(await this.#call('rlDistinct', this.#key(group, key), Math.floor(this.#clock()), windowMs, member, cap));
  }

  async list(prefix: string, max: number): Promise<CounterEntry[]> {
    const keys = await this.#scan(prefix, max);
    if (keys.length === 0) return [];
    const ttls = await this.#guard(() => {
      const pipeline = this.client.pipeline();
      for (const k of keys) pipeline.pttl(k);
      return pipeline.exec();
    });
    return keys
      .map((k, i) => ({ key: k.slice(this.prefix.length), ttlMs: Number(ttls?.[i]?.[1] ?? -2) }))
      .filter((e) => e.ttlMs !== -2);
  }

  async reset(prefix: string, max: number): Promise<number> {
    const keys = await this.#scan(prefix, max);
    if (keys.length === 0) return 0;
    return this.#guard(() => this.client.del(...keys));
  }

  async close(): Promise<void> {
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    const quit = this.client.quit().catch(() => undefined);
    const timer = setTimeout(() => this.client.disconnect(), 1000);
    await quit;
    clearTimeout(timer);
  }

  /** SCAN for keys under `prefix` (glob characters escaped), bounded in results and iterations. */
  async #scan(prefix: string, max: number): Promise<string[]> {
    const pattern = `${(this.prefix + prefix).replace(/[*?[\]\\]/g, '\\$&')}*`;
    const found: string[] = [];
    let cursor = '0';
    for (let i = 0; i < 1000 && found.length < max; i++) {
      const [next, batch] = await this.#guard(() => this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500));
      for (const k of batch) if (found.length < max) found.push(k);
      cursor = next;
      if (cursor === '0') break;
    }
    return found;
  }

  #key(group: string, suffix: string): string {
    return this.prefix + storageKey(group, suffix);
  }

  #keys(group: string, keys: readonly string[]): (string | number)[] {
    return [keys.length, ...keys.map((k) => this.#key(group, k))];
  }

  #call(name: string, ...args: (string | number)[]): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, ScriptFn>)[name]!;
    return this.#guard(() => fn.call(this.client, ...args));
  }

  async #guard<T>(run: () => Promise<T>): Promise<T> {
    if (!this.#breaker.allow()) throw new CounterUnavailableError('redis counters unavailable (circuit open)');
    try {
      const result = await run();
      this.#breaker.success();
      return result;
    } catch (error) {
      this.#breaker.failure();
      throw new CounterUnavailableError(`redis counter call failed (${(error as Error).name})`, { cause: error });
    }
  }

  #state(up: boolean, error?: Error): void {
    if (up === this.#up) return;
    this.#up = up;
    if (up) this.#logger?.info('redis counters connected');
    else this.#logger?.warn({ err: { name: error?.name, code: (error as NodeJS.ErrnoException | undefined)?.code } }, 'redis counters unreachable');
  }
}

function pairs(reply: Reply): CountState[] {
  const out: CountState[] = [];
  for (let i = 0; i < reply.length; i += 2) out.push({ count: Number(reply[i]), ttlMs: Number(reply[i + 1]) });
  return out;
}
