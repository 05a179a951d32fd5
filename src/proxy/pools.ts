import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.ts';

/**
 * One undici keep-alive pool per upstream, kept across reloads while the upstream's settings are unchanged.
 * Redirects are never followed (undici does not follow them without an interceptor).
 */
export class UpstreamPools {
  readonly #pools = new Map<string, { key: string; config: UpstreamConfig; pool: Pool }>();

  /** The pool for an upstream, created on first use and replaced when its settings change. */
  get(name: string, config: UpstreamConfig): Pool {
    const existing = this.#pools.get(name);
    // Per request the config object is the one already seen (it is frozen; a reload brings a new object), so the
    // settings are compared by value only after a reload, not on every request.
    if (existing && existing.config === config) return existing.pool;
    const key = JSON.stringify(config);
    if (existing && existing.key === key) {
      existing.config = config;
      return existing.pool;
    }
    if (existing) void existing.pool.close().catch(() => undefined);
    const url = new URL(config.url);
    const pool = new Pool(url.origin, {
      connections: config.connections,
      pipelining: 1,
      keepAliveTimeout: config.keep_alive_timeout_ms,
      keepAliveMaxTimeout: Math.max(config.keep_alive_timeout_ms, 60_000),
      headersTimeout: config.headers_timeout_ms,
      bodyTimeout: config.body_timeout_ms,
      connect: { timeout: config.connect_timeout_ms },
    });
    this.#pools.set(name, { key, config, pool });
    return pool;
  }

  /** Closes pools of upstreams that are no longer configured (after a reload). */
  retain(names: ReadonlySet<string>): void {
    for (const [name, entry] of this.#pools) {
      if (!names.has(name)) {
        this.#pools.delete(name);
        void entry.pool.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.pool.close().catch(() => undefined)));
  }
}
