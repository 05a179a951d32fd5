import { unwatchFile, watchFile } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { AdminServer } from '../admin/server.ts';
import { createLogger, errorForLog, type Logger } from '../log.ts';
import { compileRouteTable, type RouteTable } from '../pipeline/compile.ts';
import { POLICY_REGISTRY } from '../policies/index.ts';
import type { Services } from '../pipeline/types.ts';
import { UpstreamPools } from '../proxy/pools.ts';
import { Monitor } from '../monitor/monitor.ts';
import { registerMonitorRoutes } from '../monitor/admin.ts';
import { IdentityAsserter, installIdentity } from '../proxy/identity.ts';
import { upstreamSigningJwks } from '../policies/authn-signature/index.ts';
import { createCounters } from '../counters/index.ts';
import { registerRateLimitAdmin } from '../admin/ratelimit.ts';
import { openControlPlane } from '../admin/api/control-plane.ts';
import { keyringFromConfig } from '../store/encryption/config.ts';
import { registerAdminApi } from '../admin/api/routes.ts';
import { registerAuditRoutes } from '../admin/api/audit-routes.ts';
import { registerRouteTable } from '../admin/api/route-table.ts';
import { registerTrafficRoutes } from '../admin/api/traffic-routes.ts';
import { registerDashboard } from '../admin/dashboard/routes.ts';
import { loadAssets } from '../admin/dashboard/assets.ts';
import { AdminAuth } from '../admin/api/auth.ts';
import { createResponders } from '../monitor/containment.ts';
import { BusTokenRevocations, useTokenRevocations } from '../policies/authn-jwt/revocations.ts';
import { createAccessLog } from './access-log.ts';
import { installCrashGuard } from './crash-guard.ts';
import { ensureSelfSignedFiles } from './certificates.ts';
import { GatewayHandler } from './handler.ts';
import { createPlainListener, createTlsListener, updateLimits, type Tracked } from './listeners.ts';
import { readTlsMaterial, watchTlsFiles } from './tls.ts';
import type { Tracing } from '../tracing/tracer.ts';
import type { TracingConfig } from '../tracing/schema.ts';

/** Longest a stopping gateway waits for its last spans to reach the collector. */
const TRACING_FLUSH_MS = 2000;

export interface GatewayOptions {
  /** Path of rampart.yaml. */
  readonly configFile: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Logger to use; default: JSON to stdout at the config's level. */
  readonly logger?: Logger;
  /** Reload when the config or spec files change (default true). */
  readonly watch?: boolean;
  /** Poll interval for config, spec and certificate files, in ms (default 1000). */
  readonly watchIntervalMs?: number;
}

export interface GatewayAddresses {
  readonly https?: number;
  readonly http?: number;
  readonly admin: number;
}

/**
 * One gateway process: listeners, the compiled route table, the admin listener, and the lifecycle around them
 * (atomic reload that never replaces a good config with a bad one; graceful drain on stop).
 */
export class Gateway {
  readonly logger: Logger;
  readonly admin: AdminServer;
  readonly handler: GatewayHandler;
  readonly services: Services;
  /** Audit trail, metrics, detectors, incidents and IP blocks (set in start). */
  monitor!: Monitor;
  readonly #options: GatewayOptions;
  readonly #pools: UpstreamPools;
  readonly #controlPlane: { close(): Promise<void> };
  readonly #listeners: Tracked[] = [];
  readonly #cleanups: (() => void)[] = [];
  #watched: readonly string[] = [];
  #reloading: Promise<boolean> | undefined;
  #reloadAgain: Promise<boolean> | undefined;
  #stopping: Promise<void> | undefined;
  #addresses: GatewayAddresses | undefined;
  #tracing: Tracing | undefined;
  /** The tracing settings in force (from start: a reload does not change them). */
  #tracingConfig: TracingConfig | undefined;

  private constructor(options: GatewayOptions, table: RouteTable, logger: Logger, services: Services, pools: UpstreamPools, auth: AdminAuth, controlPlane: { close(): Promise<void> }) {
    this.#options = options;
    this.logger = logger;
    this.services = services;
    this.#pools = pools;
    this.#controlPlane = controlPlane;
    this.handler = new GatewayHandler(table, pools, logger, []);
    if (table.config.logging.access_log) this.handler.addSink(createAccessLog(logger));
    this.admin = new AdminServer(logger, auth);
  }

  /** Loads and compiles the config, then binds every listener. Throws ConfigError/SpecError on a bad config. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const env = options.env ?? process.env;
    const loaded = loadConfigFile(options.configFile, env);
    const logger = options.logger ?? createLogger({ level: loaded.config.logging.level });
    const https = loaded.config.listen.https;
    if (https?.self_signed && (await ensureSelfSignedFiles(https.cert, https.key))) {
      logger.warn({ cert: https.cert }, 'generated a self-signed development certificate for localhost; do not use it in production');
    }
    // Before anything opens resources: an unusable identity.signing_key or admin token stops start-up cleanly.
    const identity = await IdentityAsserter.create(loaded.config.identity);
    const adminAuth = new AdminAuth(loaded.config.admin.tokens);
    // The KEKs of every Rampart database (store and incidents), read before anything opens (docs/encryption-at-rest.md).
    const keyring = keyringFromConfig(loaded.config.store, loaded.file, logger);
    const monitor = await Monitor.start({ config: loaded.config, configFile: loaded.file, logger, keyring });
    // What start-up opened so far, closed newest first when a later step fails: the audit writer thread and
    // database connections would otherwise keep a failed `rampart start` alive instead of letting it exit.
    const opened: (() => Promise<void>)[] = [() => monitor.stop()];
    let counters: Awaited<ReturnType<typeof createCounters>>;
    let controlPlane: Awaited<ReturnType<typeof openControlPlane>>;
    let pools: UpstreamPools;
    let services: Services;
    let table: RouteTable;
    try {
      counters = await createCounters(loaded.config.counters, logger);
      opened.push(() => counters.close());
      controlPlane = await openControlPlane(loaded.config, loaded.file, logger, { keyring, events: monitor.events, ...(monitor.audit ? { audit: monitor.audit.log } : {}) });
      opened.push(() => controlPlane.close());
      pools = new UpstreamPools({ logger, watchIntervalMs: options.watchIntervalMs ?? 1000 });
      opened.push(() => pools.close());
      pools.sync(loaded.config.upstreams);
      services = { logger, events: monitor.events, audit: monitor.audit?.log, blocks: monitor.blocks, counters, store: controlPlane.store, apiKeys: controlPlane.verifier, signatureKeys: controlPlane.signatureKeys, upstreams: pools, identity, keyIssuer: controlPlane.actions };
      const revocations = useTokenRevocations(services, new BusTokenRevocations(controlPlane.bus));
      Object.assign(monitor.responders, createResponders({ actions: controlPlane.actions, bus: controlPlane.bus, revocations, counters }));
      table = await compileRouteTable(loaded, services, POLICY_REGISTRY);
    } catch (error) {
      for (const close of opened.reverse()) await close().catch(() => undefined);
      throw error;
    }
    logConfigWarnings(logger, table);
    const gateway = new Gateway(options, table, logger, services, pools, adminAuth, controlPlane);
    gateway.monitor = monitor;
    counters.onFallback = (event) => monitor.metrics.counterFallback(event);
    pools.events = monitor.metrics.watchUpstreams(() => pools.targetStates());
    gateway.admin.readinessDetail = () => ({ counters: counters.health() });
    for (const sink of monitor.sinks) gateway.handler.addSink(sink);
    gateway.handler.setDenyGate(monitor.audit?.denyGate);
    await monitor.restoreContainment();
    registerMonitorRoutes(gateway.admin, monitor);
    registerAdminApi(gateway.admin, adminAuth, controlPlane.actions, loaded.config.admin, logger, () => monitor.audit?.head.current());
    registerRateLimitAdmin(gateway.admin, counters, () => gateway.table.logins, (handler, route) =>
      route.method === 'GET'
        ? handler
        : async (req, res, params, principal) => {
            await handler(req, res, params, principal);
            // Structured, never the raw query: `account` is a personal identifier and `ip` must go through pseudonymisation.
            const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
            const fields = { actor: principal?.name, path: route.path, prefix: query.get('prefix')?.slice(0, 200), ip: query.get('ip')?.slice(0, 64), account: query.has('account') ? '[given]' : undefined };
            monitor.audit?.log.append({ type: 'ratelimit.reset', fields });
            logger.info({ actor: principal?.name, method: route.method, path: route.path }, 'rate-limit admin change');
          },
    );
    registerAuditRoutes(gateway.admin, () => monitor.audit);
    registerRouteTable(gateway.admin, () => gateway.table);
    const dashboard = loaded.config.admin.dashboard;
    const sessions = dashboard.enabled
      ? registerDashboard(gateway.admin, { config: dashboard, assets: loadAssets(), logger, audit: (type, fields) => monitor.audit?.log.append({ type, fields }) })
      : undefined;
    registerTrafficRoutes(gateway.admin, {
      traffic: monitor.traffic,
      events: monitor.events,
      onIncident: (listener) => monitor.onIncident(listener),
      stillAllowed: (req) => req.headers.authorization !== undefined || sessions?.alive(req) === true,
    });
    installIdentity(gateway.handler, gateway.admin, identity, () => upstreamSigningJwks(gateway.table.config));
    if (loaded.config.tracing.enabled) {
      // Loaded only when on: a gateway without tracing never pays for the SDK, in memory or per request.
      const { createTracing } = await import('../tracing/tracer.ts');
      gateway.#tracing = createTracing(loaded.config.tracing, logger);
      gateway.#tracingConfig = loaded.config.tracing;
      gateway.handler.tracing = gateway.#tracing;
    }
    gateway.#cleanups.push(
      installCrashGuard(gateway.handler.scope, (error, ctx, origin) => {
        monitor.metrics.strayErrors.inc({ origin, scope: ctx ? 'request' : 'process' });
        logger.error({ requestId: ctx?.id, origin, err: errorForLog(error) }, 'stray exception caught; the process keeps serving');
        if (ctx) gateway.handler.failRequest(ctx, error);
      }),
    );
    try {
      await gateway.#listen(table);
    } catch (error) {
      await gateway.stop().catch(() => undefined);
      throw error;
    }
    if (options.watch !== false) gateway.#watchConfig(table.watchFiles);
    gateway.admin.ready = true;
    logger.info({ routes: table.routes.length, addresses: gateway.addresses }, 'rampart started');
    return gateway;
  }

  get table(): RouteTable {
    return this.handler.table;
  }

  get addresses(): GatewayAddresses {
    if (!this.#addresses) throw new Error('gateway is not listening');
    return this.#addresses;
  }

  async #listen(table: RouteTable): Promise<void> {
    const { listen, limits } = table.config;
    const portOf = (tracked: Tracked | undefined) => (tracked ? (tracked.server.address() as AddressInfo).port : undefined);
    let tlsListener: Tracked | undefined;
    if (listen.https) {
      const cfg = listen.https;
      tlsListener = createTlsListener(cfg, limits, readTlsMaterial(cfg), this.handler.handle, this.handler.handleUpgrade);
      const server = tlsListener.server as unknown as { setSecureContext(o: object): void };
      this.#cleanups.push(
        watchTlsFiles(
          cfg,
          (material) => {
            server.setSecureContext(material);
            this.logger.info({ cert: cfg.cert }, 'TLS certificate reloaded');
          },
          (error) => this.logger.error({ err: errorForLog(error) }, 'TLS certificate change rejected; keeping the current one'),
          this.#options.watchIntervalMs ?? 1000,
        ),
      );
      await listenOn(tlsListener.server as HttpServer, cfg.port, cfg.host, table.file, 'listen.https');
      this.#listeners.push(tlsListener);
    }
    let plain: Tracked | undefined;
    if (listen.http) {
      plain = createPlainListener(listen.http, limits, this.handler.handle, () => portOf(tlsListener), this.handler.handleUpgrade);
      await listenOn(plain.server as HttpServer, listen.http.port, listen.http.host, table.file, 'listen.http');
      this.#listeners.push(plain);
    }
    await listenOn(this.admin.server, listen.admin.port, listen.admin.host, table.file, 'listen.admin');
    this.#addresses = {
      ...(tlsListener ? { https: portOf(tlsListener) } : {}),
      ...(plain ? { http: portOf(plain) } : {}),
      admin: (this.admin.server.address() as AddressInfo).port,
    };
  }

  /**
   * Loads, validates and compiles the config again and swaps the route table atomically. A config that fails
   * keeps the current one serving; the error is logged with its config path. Resolves true when applied.
   */
  reload(): Promise<boolean> {
    if (this.#reloading) {
      // A change seen while a reload runs may have landed after that reload read the files: run once more after it.
      this.#reloadAgain ??= this.#reloading.then(() => {
        this.#reloadAgain = undefined;
        return this.reload();
      });
      return this.#reloadAgain;
    }
    this.#reloading = this.#reload().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  async #reload(): Promise<boolean> {
    try {
      const loaded = loadConfigFile(this.#options.configFile, this.#options.env ?? process.env);
      const table = await compileRouteTable(loaded, this.services, POLICY_REGISTRY);
      logConfigWarnings(this.logger, table);
      const before = this.table.config.listen;
      if (JSON.stringify(before) !== JSON.stringify(loaded.config.listen)) {
        this.logger.warn('listener changes (ports, hosts, certificate paths) take effect on restart only');
      }
      if (JSON.stringify(this.#tracingConfig ?? { enabled: false }) !== JSON.stringify(loaded.config.tracing.enabled ? loaded.config.tracing : { enabled: false })) {
        this.logger.warn('tracing changes take effect on restart only');
      }
      const adminAuth = new AdminAuth(loaded.config.admin.tokens);
      for (const listener of this.#listeners) updateLimits(listener.server, loaded.config.limits);
      this.handler.table = table;
      this.admin.auth = adminAuth;
      this.#pools.sync(loaded.config.upstreams);
      if (this.#options.watch !== false) this.#watchConfig(table.watchFiles);
      this.logger.info({ routes: table.routes.length }, 'configuration reloaded');
      return true;
    } catch (error) {
      this.logger.error({ err: errorForLog(error) }, 'configuration reload rejected; the previous configuration keeps serving');
      return false;
    }
  }

  #watchConfig(files: readonly string[]): void {
    // Watchers on files still in the set are kept: re-creating one would miss a write made during the reload.
    const next = new Set(files);
    const previous = new Set(this.#watched);
    for (const file of previous) if (!next.has(file)) unwatchFile(file, this.#onFileChange);
    this.#watched = files;
    for (const file of next) if (!previous.has(file)) watchFile(file, { interval: this.#options.watchIntervalMs ?? 1000, persistent: false }, this.#onFileChange);
  }

  readonly #onFileChange = (current: { mtimeMs: number }, previous: { mtimeMs: number }): void => {
    if (current.mtimeMs !== previous.mtimeMs) void this.reload();
  };

  /**
   * Graceful stop: readiness goes false, listeners stop accepting, idle connections close, in-flight requests get
   * up to `drainMs` (default from config) to finish, then everything left is cut.
   */
  stop(drainMs = this.table.config.shutdown.drain_timeout_ms): Promise<void> {
    this.#stopping ??= this.#stop(drainMs);
    return this.#stopping;
  }

  async #stop(drainMs: number): Promise<void> {
    this.admin.ready = false;
    for (const file of this.#watched) unwatchFile(file, this.#onFileChange);
    for (const cleanup of this.#cleanups) cleanup();
    const closed = this.#listeners.map((l) => new Promise<void>((resolve) => l.server.close(() => resolve())));
    for (const l of this.#listeners) {
      (l.server as HttpServer).closeIdleConnections?.();
      for (const session of l.sessions) session.close();
    }
    const deadline = Date.now() + drainMs;
    // Open WebSockets get a close frame (1001) at once and the drain time to finish their closing handshake.
    const sockets = this.handler.websockets.drain(drainMs);
    while (this.handler.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await sockets;
    for (const l of this.#listeners) {
      (l.server as HttpServer).closeAllConnections?.();
      for (const session of l.sessions) session.destroy();
    }
    await Promise.all(closed);
    await new Promise<void>((resolve) => {
      this.admin.server.close(() => resolve());
      this.admin.server.closeAllConnections();
    });
    await this.#pools.close();
    await this.#controlPlane.close();
    await this.services.counters?.close();
    await this.monitor.stop();
    // Last, and bounded: a collector that is slow or down must not hold up the audit trail's close or the exit.
    await this.#tracing?.shutdown(Math.min(this.#tracingConfig!.export_timeout_ms, TRACING_FLUSH_MS));
    this.logger.info('rampart stopped');
    this.logger.flush?.();
  }
}

/** Why a listener could not bind, as a config problem: the port or host the config names is unusable here. */
const LISTEN_ERRORS: Readonly<Record<string, { message: string; hint: string }>> = {
  EADDRINUSE: { message: 'is in use by another process', hint: 'stop that process or choose another port' },
  EACCES: { message: 'may not be bound by this user (ports below 1024 need privileges)', hint: 'choose a port from 1024 up, or grant CAP_NET_BIND_SERVICE' },
  EADDRNOTAVAIL: { message: 'names an address this machine does not have', hint: 'use an address of one of its interfaces, or 0.0.0.0 / ::' },
};

function listenOn(server: HttpServer, port: number, host: string, file: string, at: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) => {
      const known = LISTEN_ERRORS[error.code ?? ''];
      if (!known) return reject(error);
      reject(new ConfigError(file, [{ path: `${at}.port`, message: `${host}:${port} ${known.message} (${error.code})`, hint: known.hint }]));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

/** Every configuration warning of a table, on each start and reload (a weakened control is never silent). */
function logConfigWarnings(logger: Logger, table: RouteTable): void {
  for (const warning of table.warnings) logger.warn({ config: table.file }, `configuration warning: ${warning}`);
}
