import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.ts';

/**
 * What every instance must learn: a key or consumer to drop from its cache (`signatureKeyId`: an RFC 9421 key of
 * the store, created or revoked); with `suspended`, a key suspended
 * (true) or reinstated (false) by incident response; a JWT subject whose tokens issued before `before`
 * (seconds; null lifts it) are revoked; or a consumer whose rate limits are tightened by `factor` until `until`
 * (epoch ms; factor null relaxes them).
 */
export type Invalidation =
  | { readonly keyId: string; readonly suspended?: boolean }
  | { readonly consumerId: string }
  | { readonly signatureKeyId: string }
  | { readonly revokeSubject: string; readonly before: number | null; readonly issuer?: string }
  | { readonly tightenConsumer: string; readonly factor: number | null; readonly until: number };

/**
 * Cross-instance cache invalidation. `publish` tells every instance (including this one, through `subscribe`)
 * that a key or consumer changed. Implementations never throw from `publish`: the store re-check is the
 * safety net when the bus is down.
 */
export interface InvalidationBus {
  publish(message: Invalidation): Promise<void>;
  subscribe(handler: (message: Invalidation) => void): void;
  close(): Promise<void>;
}

/** The in-process bus (one instance, or no Redis): delivers synchronously to local subscribers. */
export class LocalBus implements InvalidationBus {
  readonly #handlers: ((message: Invalidation) => void)[] = [];
  async publish(message: Invalidation): Promise<void> {
    for (const handler of this.#handlers) handler(message);
  }
  subscribe(handler: (message: Invalidation) => void): void {
    this.#handlers.push(handler);
  }
  async close(): Promise<void> {}
}

export interface RedisBusOptions {
  readonly url: string;
  /** Channel name prefix; default `rampart`. */
  readonly prefix?: string;
  readonly logger: Logger;
  /** Connect timeout in ms; default 2000. */
  readonly connectTimeoutMs?: number;
}

/**
 * Redis pub/sub fan-out on channel `<prefix>:apikeys:invalidate`: one connection publishes, one subscribes (a
 * subscribed Redis connection cannot publish). Local subscribers are also called directly, so this instance does
 * not wait for the round trip. Reconnects on its own; while Redis is down, the periodic store re-check covers.
 */
export class RedisBus implements InvalidationBus {
  readonly #channel: string;
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #handlers: ((message: Invalidation) => void)[] = [];
  readonly #logger: Logger;
  readonly #origin = randomUUID();

  constructor(options: RedisBusOptions) {
    this.#channel = `${options.prefix ?? 'rampart'}:apikeys:invalidate`;
    this.#logger = options.logger;
    const common = { connectTimeout: options.connectTimeoutMs ?? 2000, maxRetriesPerRequest: 1, lazyConnect: false, enableOfflineQueue: true };
    this.#pub = new Redis(options.url, common);
    this.#sub = new Redis(options.url, common);
    for (const client of [this.#pub, this.#sub]) client.on('error', (error: Error) => this.#logger.warn({ err: { message: error.message } }, 'API key invalidation bus: Redis error'));
    this.#sub.on('message', (_channel: string, text: string) => this.#onMessage(text));
  }

  /** Resolves once the subscription is active (so nothing published after start is missed). */
  async ready(): Promise<void> {
    await this.#sub.subscribe(this.#channel);
  }

  #onMessage(text: string): void {
    let parsed: Parameters<typeof decode>[0];
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === this.#origin) return;
    const message = decode(parsed);
    if (message) for (const handler of this.#handlers) handler(message);
  }

  async publish(message: Invalidation): Promise<void> {
    for (const handler of this.#handlers) handler(message);
    const payload = JSON.stringify({ o: this.#origin, ...encode(message) });
    try {
      await this.#pub.publish(this.#channel, payload);
    } catch (error) {
      this.#logger.warn({ err: { message: (error as Error).message } }, 'API key invalidation not published; other instances rely on the store re-check');
    }
  }

  subscribe(handler: (message: Invalidation) => void): void {
    this.#handlers.push(handler);
  }

  async close(): Promise<void> {
    this.#sub.disconnect();
    this.#pub.disconnect();
  }
}

function encode(message: Invalidation): Record<string, unknown> {
  if ('keyId' in message) return { k: message.keyId, ...(message.suspended !== undefined ? { s: message.suspended } : {}) };
  if ('consumerId' in message) return { c: message.consumerId };
  if ('signatureKeyId' in message) return { g: message.signatureKeyId };
  if ('tightenConsumer' in message) return { t: message.tightenConsumer, f: message.factor, u: message.until };
  return { r: message.revokeSubject, b: message.before, ...(message.issuer !== undefined ? { i: message.issuer } : {}) };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function decode(p: { o?: unknown; k?: unknown; s?: unknown; c?: unknown; g?: unknown; r?: unknown; b?: unknown; i?: unknown; t?: unknown; f?: unknown; u?: unknown }): Invalidation | undefined {
  if (typeof p.k === 'string') return { keyId: p.k, ...(typeof p.s === 'boolean' ? { suspended: p.s } : {}) };
  if (typeof p.c === 'string') return { consumerId: p.c };
  if (typeof p.g === 'string') return { signatureKeyId: p.g };
  if (typeof p.r === 'string' && (p.b === null || finite(p.b))) return { revokeSubject: p.r, before: p.b, ...(typeof p.i === 'string' ? { issuer: p.i } : {}) };
  if (typeof p.t === 'string' && (p.f === null || (finite(p.f) && p.f > 0 && p.f <= 1)) && finite(p.u)) return { tightenConsumer: p.t, factor: p.f, until: p.u };
  return undefined;
}
