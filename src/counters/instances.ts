/**
 * How many gateway instances share the Redis counters, learned from heartbeats: each instance adds itself to one
 * sorted set every `intervalMs` (scored by Redis's own clock, so instance clock skew does not matter) and counts
 * the members seen within three intervals. While Redis cannot be reached the last count stays in force — that is
 * when it is needed (the local fallback admits each instance's share of a limit).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
redis.call('PEXPIRE', KEYS[1], horizon)
return redis.call('ZCARD', KEYS[1])`;

/** Most instances a heartbeat count may report (a bound, not a product limit). */
const MAX_INSTANCES = 1024;

export class InstanceHeartbeat {
  readonly #client: Redis;
  readonly #key: string;
  readonly #id = randomBytes(9).toString('base64url');
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #count = 1;
  #beating = false;

  /**
   * @param key the sorted set's key (with the counters prefix)
   * @param intervalMs heartbeat period in ms (default 1000); an instance is forgotten after three missed beats
   */
  constructor(client: Redis, key: string, intervalMs = 1000) {
    this.#client = client;
    this.#key = key;
    this.#intervalMs = intervalMs;
  }

  /** Instances seen at the last successful heartbeat, this one included (1 until the first one succeeds). */
  get count(): number {
    return this.#count;
  }

  /** Beats now, then every interval. Never throws: a failed beat keeps the last count. */
  start(): Promise<void> {
    this.#timer ??= setInterval(() => void this.beat(), this.#intervalMs).unref();
    return this.beat();
  }

  /** One heartbeat; resolves when it is answered or has failed. */
  async beat(): Promise<void> {
    if (this.#beating || this.#client.status !== 'ready') return;
    this.#beating = true;
    try {
      const count = Number(await this.#client.eval(HEARTBEAT, 1, this.#key, this.#id, 3 * this.#intervalMs));
      if (Number.isInteger(count) && count >= 1) this.#count = Math.min(count, MAX_INSTANCES);
    } catch {
      // Redis slow or gone: the counters themselves report that; keep the last count.
    } finally {
      this.#beating = false;
    }
  }

  /** Stops beating and leaves the set, so the others' count drops at once (best effort). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#client.status === 'ready') await this.#client.zrem(this.#key, this.#id).catch(() => undefined);
  }
}
