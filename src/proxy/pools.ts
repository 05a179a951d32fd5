import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { GatewayError } from '../problem.ts';
import { watchMaterial } from '../server/tls.ts';
import { readUpstreamTls, upstreamTlsFiles, type UpstreamTlsConfig, type UpstreamTlsMaterial } from './upstream-tls.ts';
import type { UpstreamPoolSource } from '../pipeline/types.ts';
import { Balancer, type BalancerEvents } from './balancer/balancer.ts';
import { HealthChecker } from './balancer/health.ts';
import { RetryBudget } from './balancer/retry.ts';

export interface UpstreamPoolsOptions {
  /** Where TLS material reloads (and rejected changes) are reported. */
  readonly logger?: Logger;
  /** Poll interval for upstream TLS files, in ms (default 1000). */
  readonly watchIntervalMs?: number;
}

interface Entry {
  readonly key: string;
  config: UpstreamConfig;
  readonly upstream: PooledUpstream;
  readonly checker: HealthChecker | undefined;
  unwatch: (() => void) | undefined;
  /** The TLS material in force (replaced by a rotation). */
  readonly tls: { material: UpstreamTlsMaterial | undefined };
}

/** One upstream as the proxy uses it: its targets and their balancer, and its retry budget. */
export interface PooledUpstream {
  readonly balancer: Balancer;
  readonly retries: RetryBudget;
}

/**
 * The upstreams' targets, each with its own undici keep-alive pool, kept across reloads while the upstream's
 * settings are unchanged (a changed upstream gets new pools and the old ones drain). Redirects are never followed
 * (undici does not follow them without an interceptor). An https upstream's certificate is always verified
 * (against `tls.ca` or Node's bundled CAs); `tls.cert`/`key` add a client certificate. When those files change, new
 * pools are built with the new material for new connections and the old ones drain. Active health checks run from
 * the moment an upstream is configured.
 */
export class UpstreamPools implements UpstreamPoolSource {
  readonly #pools = new Map<string, Entry>();
  readonly #logger: Logger | undefined;
  readonly #watchIntervalMs: number;
  /** Ejections and health changes, for metrics (set by the gateway). */
  events: BalancerEvents = {};
  /** Once sync() ran, the set of upstreams is the config's: requests never add or rebuild one. */
  #synced = false;
  #closed = false;

  constructor(options: UpstreamPoolsOptions = {}) {
    this.#logger = options.logger;
    this.#watchIntervalMs = options.watchIntervalMs ?? 1000;
  }

  /**
   * The upstream's targets and retry budget, created on first use and replaced when its settings change.
   * @throws GatewayError upstream_unavailable when the upstream's TLS files can no longer be read.
   */
  upstream(name: string, config: UpstreamConfig): PooledUpstream {
    const existing = this.#pools.get(name);
    // Per request the config object is the one already seen (it is frozen; a reload brings a new object), so the
    // settings are compared by value only after a reload, not on every request.
    if (existing && existing.config === config) return existing.upstream;
    // A request that began before a reload carries the old table's config: it is served by what sync() made of the
    // new one, never rebuilds it (that would drop the pools, health and retry budget, or revive a removed upstream).
    if (existing && this.#synced) return existing.upstream;
    if (this.#closed || (this.#synced && !existing)) throw new GatewayError('upstream_unavailable', `upstreams.${name}: not configured (anymore)`);
    return this.#build(name, config, existing);
  }

  #build(name: string, config: UpstreamConfig, existing: Entry | undefined): PooledUpstream {
    const key = JSON.stringify(config);
    if (existing && existing.key === key) {
      existing.config = config;
      return existing.upstream;
    }
    let material: UpstreamTlsMaterial | undefined;
    try {
      material = config.tls ? readUpstreamTls(config.tls) : undefined;
    } catch (error) {
      throw new GatewayError('upstream_unavailable', `upstreams.${name}.tls: ${(error as Error).message}`, { cause: error });
    }
    if (existing) this.#drop(existing);
    const balancer = new Balancer(name, config, (url) => createPool(url, config, material), this.#eventsFor(name));
    // The probes' connections read the material in force when they are made (a TLS rotation replaces them too).
    const tls = { material };
    const checker = config.health_check ? new HealthChecker(balancer, (url) => createPool(url, { ...config, connections: 1 }, tls.material)) : undefined;
    const entry: Entry = { key, config, upstream: { balancer, retries: new RetryBudget(config.retries) }, checker, unwatch: undefined, tls };
    if (config.tls) entry.unwatch = this.#watch(name, entry, config.tls);
    this.#pools.set(name, entry);
    checker?.start();
    return entry.upstream;
  }

  /** A pool of one target in rotation, for policies that call the upstream themselves (owner lookups). */
  get(name: string, config: UpstreamConfig): Pool {
    return this.upstream(name, config).balancer.require().pool;
  }

  /** Makes the configured upstreams current: new ones start (health checks at once), removed ones close. */
  sync(upstreams: Readonly<Record<string, UpstreamConfig>>): void {
    if (this.#closed) return;
    this.#synced = true;
    for (const [name, entry] of this.#pools) {
      if (!(name in upstreams)) {
        this.#pools.delete(name);
        this.#drop(entry);
      }
    }
    for (const [name, config] of Object.entries(upstreams)) {
      try {
        this.#build(name, config, this.#pools.get(name));
      } catch (error) {
        this.#logger?.error({ upstream: name, err: errorForLog(error) }, 'upstream could not be set up; its requests answer 503');
      }
    }
  }

  /** Target states for metrics: bounded by the config (upstream names and target host:port). */
  targetStates(): { upstream: string; target: string; inRotation: boolean; inFlight: number }[] {
    const now = Date.now();
    return [...this.#pools.entries()].flatMap(([upstream, entry]) =>
      entry.upstream.balancer.targets.map((t) => ({ upstream, target: t.label, inRotation: t.inRotation(now), inFlight: t.inFlight })),
    );
  }

  #eventsFor(name: string): BalancerEvents {
    return {
      ejected: (upstream, target, forMs, reason) => {
        this.#logger?.warn({ upstream: name, target, forMs, reason }, 'upstream target ejected after failures');
        this.events.ejected?.(upstream, target, forMs, reason);
      },
      health: (upstream, target, healthy) => {
        this.#logger?.[healthy ? 'info' : 'warn']({ upstream: name, target }, healthy ? 'upstream target passed its health checks; back in rotation' : 'upstream target failed its health checks; out of rotation');
        this.events.health?.(upstream, target, healthy);
      },
    };
  }

  #watch(name: string, entry: Entry, tls: UpstreamTlsConfig): () => void {
    return watchMaterial(
      upstreamTlsFiles(tls),
      () => readUpstreamTls(tls),
      (material) => {
        // The entry is replaced (and its watcher stopped) when the upstream's settings change; a same-valued reload
        // keeps it, so its TLS paths are still the ones watched here.
        if (this.#pools.get(name) !== entry) return;
        entry.tls.material = material;
        for (const target of entry.upstream.balancer.targets) {
          const old = target.pool;
          target.pool = createPool(target.url, entry.config, material);
          // In-flight requests finish on the old pool's connections; new requests use the new material.
          void old.close().catch(() => undefined);
          // The next probe opens its connection with the new material.
          const probe = target.probe;
          target.probe = undefined;
          void probe?.close().catch(() => undefined);
        }
        this.#logger?.info({ upstream: name }, 'upstream TLS material reloaded');
      },
      (error) => this.#logger?.error({ upstream: name, err: errorForLog(error) }, 'upstream TLS material change rejected; keeping the current one'),
      this.#watchIntervalMs,
    );
  }

  #drop(entry: Entry): void {
    entry.unwatch?.();
    entry.checker?.stop();
    for (const target of entry.upstream.balancer.targets) void target.pool.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#pools.values()];
    this.#pools.clear();
    for (const entry of entries) {
      entry.unwatch?.();
      entry.checker?.stop();
    }
    await Promise.all(entries.flatMap((e) => e.upstream.balancer.targets.map((t) => t.pool.close().catch(() => undefined))));
  }
}

function createPool(origin: string, config: UpstreamConfig, tls: UpstreamTlsMaterial | undefined): Pool {
  const url = new URL(origin);
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
