import { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';

/** What to drop from every instance's key cache. */
export type Invalidation = { readonly keyId: string } | { readonly consumerId: string };

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
  readonly #origin = Math.random().toString(36).slice(2);

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
    let parsed: { o?: unknown; k?: unknown; c?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === this.#origin) return;
    const message: Invalidation | undefined =
      typeof parsed.k === 'string' ? { keyId: parsed.k } : typeof parsed.c === 'string' ? { consumerId: parsed.c } : undefined;
    if (message) for (const handler of this.#handlers) handler(message);
  }

  async publish(message: Invalidation): Promise<void> {
    for (const handler of this.#handlers) handler(message);
    const payload = JSON.stringify('keyId' in message ? { o: this.#origin, k: message.keyId } : { o: this.#origin, c: message.consumerId });
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
