import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { BlockEntry, IpBlocks } from './blocks.ts';

type Message = { origin: string } & ({ op: 'block'; entry: BlockEntry } | { op: 'unblock'; ip: string });

/**
 * Scale-out: copies block changes to every instance over Redis pub/sub (delivery is sub-second on a healthy
 * Redis). Each instance applies messages from others to its local IpBlocks; its own are ignored. Connection
 * attempts time out after 2 s; a lost subscription reconnects and reloads from the store via `onReconnect`.
 */
export class BlockFanout {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #origin = randomUUID();
  readonly #logger: Logger;

  private constructor(pub: Redis, sub: Redis, channel: string, logger: Logger) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = channel;
    this.#logger = logger;
  }

  /** Connects and subscribes; resolves once the subscription is active. Throws if Redis is unreachable. */
  static async start(url: string, channel: string, blocks: IpBlocks, logger: Logger, onReconnect?: () => void): Promise<BlockFanout> {
    const options = { connectTimeout: 2000, maxRetriesPerRequest: 2, lazyConnect: true };
    const pub = new Redis(url, options);
    const sub = new Redis(url, options);
    pub.on('error', () => undefined);
    sub.on('error', (error: Error) => logger.warn({ error: error.name }, 'block fan-out: redis error'));
    const fanout = new BlockFanout(pub, sub, channel, logger);
    await Promise.all([pub.connect(), sub.connect()]);
    sub.on('message', (_channel: string, text: string) => fanout.#apply(text, blocks));
    let first = true;
    sub.on('ready', () => {
      if (!first) onReconnect?.();
      first = false;
    });
    await sub.subscribe(channel);
    return fanout;
  }

  #apply(text: string, blocks: IpBlocks): void {
    try {
      const msg = JSON.parse(text) as Message;
      if (msg.origin === this.#origin) return;
      if (msg.op === 'block') blocks.set(msg.entry);
      else if (msg.op === 'unblock') blocks.delete(msg.ip);
    } catch {
      this.#logger.warn('block fan-out: ignored a malformed message');
    }
  }

  async publishBlock(entry: BlockEntry): Promise<void> {
    await this.#pub.publish(this.#channel, JSON.stringify({ origin: this.#origin, op: 'block', entry }));
  }

  async publishUnblock(ip: string): Promise<void> {
    await this.#pub.publish(this.#channel, JSON.stringify({ origin: this.#origin, op: 'unblock', ip }));
  }

  async close(): Promise<void> {
    this.#sub.disconnect();
    this.#pub.disconnect();
  }
}
