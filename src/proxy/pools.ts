import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { GatewayError } from '../problem.ts';
import { watchMaterial } from '../server/tls.ts';
import { readUpstreamTls, upstreamTlsFiles, type UpstreamTlsConfig, type UpstreamTlsMaterial } from './upstream-tls.ts';

export interface UpstreamPoolsOptions {
  /** Where TLS material reloads (and rejected changes) are reported. */
  readonly logger?: Logger;
  /** Poll interval for upstream TLS files, in ms (default 1000). */
  readonly watchIntervalMs?: number;
}

interface Entry {
  readonly key: string;
  config: UpstreamConfig;
  pool: Pool;
  unwatch: (() => void) | undefined;
}

/**
 * One undici keep-alive pool per upstream, kept across reloads while the upstream's settings are unchanged.
 * Redirects are never followed (undici does not follow them without an interceptor). An https upstream's
 * certificate is always verified (against `tls.ca` or Node's bundled CAs); `tls.cert`/`key` add a client
 * certificate. When those files change, a new pool is built with the new material for new connections and the old
 * one drains.
 */
export class UpstreamPools {
  readonly #pools = new Map<string, Entry>();
  readonly #logger: Logger | undefined;
  readonly #watchIntervalMs: number;

  constructor(options: UpstreamPoolsOptions = {}) {
    this.#logger = options.logger;
    this.#watchIntervalMs = options.watchIntervalMs ?? 1000;
  }

  /**
   * The pool for an upstream, created on first use and replaced when its settings change.
   * @throws GatewayError upstream_unavailable when the upstream's TLS files can no longer be read.
   */
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
    let material: UpstreamTlsMaterial | undefined;
    try {
      material = config.tls ? readUpstreamTls(config.tls) : undefined;
    } catch (error) {
      throw new GatewayError('upstream_unavailable', `upstreams.${name}.tls: ${(error as Error).message}`, { cause: error });
    }
    if (existing) this.#drop(existing);
    const entry: Entry = { key, config, pool: createPool(config, material), unwatch: undefined };
    if (config.tls) entry.unwatch = this.#watch(name, entry, config.tls);
    this.#pools.set(name, entry);
    return entry.pool;
  }

  #watch(name: string, entry: Entry, tls: UpstreamTlsConfig): () => void {
    return watchMaterial(
      upstreamTlsFiles(tls),
      () => readUpstreamTls(tls),
      (material) => {
        // The entry is replaced (and its watcher stopped) when the upstream's settings change; a same-valued reload
        // keeps it, so its TLS paths are still the ones watched here.
        if (this.#pools.get(name) !== entry) return;
        const old = entry.pool;
        entry.pool = createPool(entry.config, material);
        // In-flight requests finish on the old pool's connections; new requests use the new material.
        void old.close().catch(() => undefined);
        this.#logger?.info({ upstream: name }, 'upstream TLS material reloaded');
      },
      (error) => this.#logger?.error({ upstream: name, err: errorForLog(error) }, 'upstream TLS material change rejected; keeping the current one'),
      this.#watchIntervalMs,
    );
  }

  #drop(entry: Entry): void {
    entry.unwatch?.();
    void entry.pool.close().catch(() => undefined);
  }

  /** Closes pools of upstreams that are no longer configured (after a reload). */
  retain(names: ReadonlySet<string>): void {
    for (const [name, entry] of this.#pools) {
      if (!names.has(name)) {
        this.#pools.delete(name);
        this.#drop(entry);
      }
    }
  }

  async close(): Promise<void> {
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    for (const entry of entries) entry.unwatch?.();
    await Promise.all(entries.map((e) => e.pool.close().catch(() => undefined)));
  }
}

function createPool(config: UpstreamConfig, tls: UpstreamTlsMaterial | undefined): Pool {
  const url = new URL(config.url);
  const https = url.protocol === 'https:';
  return new Pool(url.origin, {
    connections: config.connections,
    pipelining: 1,
    keepAliveTimeout: config.keep_alive_timeout_ms,
    keepAliveMaxTimeout: Math.max(config.keep_alive_timeout_ms, 60_000),
    headersTimeout: config.headers_timeout_ms,
    bodyTimeout: config.body_timeout_ms,
    // Verification is never relaxed: rejectUnauthorized is pinned to true for every https upstream.
    connect: https ? { timeout: config.connect_timeout_ms, ...tls, rejectUnauthorized: true } : { timeout: config.connect_timeout_ms },
  });
}
