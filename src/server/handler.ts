import { AsyncLocalStorage } from 'node:async_hooks';
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { listenerAuthority } from '../http/hosts.ts';
import { GatewayError, toGatewayError } from '../problem.ts';
import { RequestContext, type ServerRequest, type ServerResponseLike } from '../pipeline/types.ts';
import { stripPrefix, type RouteTable } from '../pipeline/compile.ts';
import { outcomeOf, type RecordSink } from '../pipeline/types.ts';
import { clientIpOf, parseTarget, requestIdOf } from '../http/normalise.ts';
import { discardBody, upstreamHeadersFor } from '../proxy/forward.ts';
import { dispatch } from '../proxy/dispatch.ts';
import { runRequestStages, runRoute, type PipelineEnds } from '../pipeline/run.ts';
import type { CompiledRoute } from '../pipeline/types.ts';
import { readUpstreamTls } from '../proxy/upstream-tls.ts';
import { checkUpgrade, startRelay, WebSocketSessions } from '../proxy/websocket/upgrade.ts';
import type { IdentityAsserter } from '../proxy/identity.ts';
import type { UpstreamPools } from '../proxy/pools.ts';
import type { Tracing } from '../tracing/tracer.ts';
import { finishHeaders, safeReason, sendProblem, sendResponse } from './respond.ts';

/** The client's own handshake fields: the upstream socket makes its own (key, version; no extensions). */
const WEBSOCKET_HANDSHAKE_HEADERS = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'sec-websocket-accept'];

/** Status recorded for a request whose client went away before any answer was sent (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

/**
 * The data-plane request handler: normalise → route → the pipeline runner (pipeline/run.ts: request stages, proxy,
 * response stages, respond) → record. Anything thrown on the way denies the request (fail closed): a
 * GatewayError with its own status, anything else as a generic 500. The table is swapped whole on reload; a
 * request keeps the table it started with.
 */
export class GatewayHandler {
  table: RouteTable;
  readonly #pools: UpstreamPools;
  readonly #logger: Logger;
  readonly #sinks: RecordSink[];
  /** Signs the identity header sent upstream for authenticated requests (set at start, see proxy/identity.ts). */
  identity: IdentityAsserter | undefined = undefined;
  /** Open WebSocket connections (for `max_connections` and the drain on stop). */
  readonly websockets = new WebSocketSessions();
  /** Starts each request's trace (set at start when `tracing.enabled`; tracing/tracer.ts). */
  tracing: Tracing | undefined = undefined;
  #denyGate: ((ctx: RequestContext, status: number) => Promise<void> | undefined) | undefined;
  #inFlight = 0;
  /** The request each piece of async work belongs to, for the crash guard (server/crash-guard.ts). */
  readonly scope = new AsyncLocalStorage<RequestContext>();
  readonly #ends = new WeakMap<RouteTable, PipelineEnds>();

  constructor(table: RouteTable, pools: UpstreamPools, logger: Logger, sinks: RecordSink[]) {
    this.table = table;
    this.#pools = pools;
    this.#logger = logger;
    this.#sinks = sinks;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Adds a record sink (audit, metrics, monitor). */
  addSink(sink: RecordSink): void {
    this.#sinks.push(sink);
  }

  /**
   * Sets a gate awaited before a deny response is written (the audit trail uses it so a denied request's record is
   * durable before the client sees the answer). The gate must settle quickly; when it rejects (the record could not
   * be kept) the client gets 503 instead of the deny, as for allowed requests.
   */
  setDenyGate(gate: ((ctx: RequestContext, status: number) => Promise<void> | undefined) | undefined): void {
    this.#denyGate = gate;
  }

  readonly handle = (req: ServerRequest, res: ServerResponseLike, secure: boolean): void => {
    const table = this.table;
    const ctx = this.#context(req, res, secure, table);
    res.once('close', this.#recorder(ctx));
    this.scope.run(ctx, () => this.#run(ctx, table).catch((error: unknown) => this.#deny(ctx, table, error)));
  };

  /**
   * An HTTP/1.1 `Upgrade: websocket` request (the listeners' `upgrade` event). It is routed and passes every request
   * stage like any request, on a response object over its socket so a deny is an ordinary problem answer; once
   * allowed, the upstream socket is opened and the client's upgrade accepted (proxy/websocket/). The access log and
   * audit record it when the connection ends, with status 101.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean): void => {
    const table = this.table;
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    const ctx = this.#context(req, res, secure, table);
    const record = this.#recorder(ctx);
    res.once('close', () => {
      if (!ctx.notes.upgraded) record();
    });
    // A refused upgrade is answered and its connection closed (it is no keep-alive HTTP connection any more).
    res.once('finish', () => {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
    this.scope.run(ctx, () =>
      this.#upgrade(ctx, table, socket, head, record).catch((error: unknown) => {
        if (ctx.notes.upgraded) socket.destroy();
        else this.#deny(ctx, table, error);
      }),
    );
  };

  #context(req: ServerRequest, res: ServerResponseLike, secure: boolean, table: RouteTable): RequestContext {
    const ctx = new RequestContext(req, res, requestIdOf(req.headers['x-request-id']), clientIpOf(req, table.trustedProxies), secure);
    if (this.tracing !== undefined) ctx.trace = this.tracing.begin(ctx, table.trustedProxies);
    this.#inFlight++;
    return ctx;
  }

  /** The record of a request (stage 13), run once: when its response closes, or when its WebSocket ends (status 101). */
  #recorder(ctx: RequestContext): (status?: number) => void {
    let recorded = false;
    return (upgradedStatus?: number) => {
      if (recorded) return;
      recorded = true;
      this.#inFlight--;
      const res = ctx.res;
      // A stream reset or connection closed before the answer was sent is not a 200 (Node's default statusCode).
      const status = upgradedStatus ?? (res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS);
      // HTTP/2: a reset stream's response reports writableFinished although end() was never called.
      if (upgradedStatus === undefined && (!res.writableFinished || !res.writableEnded)) ctx.clientGone = true;
      const outcome = outcomeOf(ctx, status);
      ctx.trace?.finish(outcome);
      for (const sink of this.#sinks) {
        try {
          sink.record(outcome);
        } catch (error) {
          this.#logger.error({ requestId: ctx.id, err: errorForLog(error) }, 'record sink failed');
        }
      }
    };
  }

  async #upgrade(ctx: RequestContext, table: RouteTable, socket: Duplex, head: Buffer, record: (status?: number) => void): Promise<void> {
    socket.once('close', () => (ctx.clientGone = true));
    const route = this.#route(ctx, table);
    if (route === undefined) return;
    // Authentication removes the credential it read (headers, a query token: it is never forwarded); the re-checks
    // of the open connection need it again.
    const presented = { headers: { ...ctx.req.headers }, query: ctx.rawQuery };
    checkUpgrade(ctx, route, this.websockets);
    try {
      await this.#relay(ctx, table, route, socket, head, record, presented);
    } finally {
      this.websockets.release(route.api.name);
    }
  }

  async #relay(ctx: RequestContext, table: RouteTable, route: CompiledRoute, socket: Duplex, head: Buffer, record: (status?: number) => void, presented: { headers: IncomingHttpHeaders; query: string }): Promise<void> {
    await runRequestStages(ctx, route);
    if (ctx.clientGone) return;
    const target = this.#pools.upstream(route.upstreamName, route.upstream).balancer.require();
    ctx.notes.upstreamTarget = target.label;
    const identityHeaders = ctx.identity && this.identity ? await this.identity.headersFor(ctx, route.upstreamName, table.config.identity) : undefined;
    const strip = new Set([...(ctx.stripUpstreamHeaders ?? []), ...WEBSOCKET_HANDSHAKE_HEADERS]);
    const headers = upstreamHeadersFor(ctx, { trustedProxies: table.trustedProxies, forwardedHost: ctx.forwardedHost, ...(identityHeaders ? { extraHeaders: identityHeaders } : {}) }, strip);
    const started = process.hrtime.bigint();
    await startRelay(
      {
        ctx,
        route,
        socket,
        head,
        target,
        upstreamPath: upstreamPath(ctx, route),
        headers,
        tls: route.upstream.tls ? readUpstreamTls(route.upstream.tls) : undefined,
        handshakeTimeoutMs: route.upstream.connect_timeout_ms + route.upstream.headers_timeout_ms,
        detach: () => {
          ctx.notes.upgraded = true;
          ctx.upstreamStatus = 101;
          (ctx.res as ServerResponse).detachSocket(socket as Socket);
        },
        recheck: () => this.#recheck(ctx, table, route, presented),
        onEnd: (end) => {
          ctx.upstreamNs = process.hrtime.bigint() - started;
          ctx.notes.websocketClose = end.code;
          ctx.notes.reason = safeReason(end.reason);
          record(101);
          // The response object was detached at the upgrade: what waits for its close (concurrency slots) hears it now.
          ctx.res.emit('close');
        },
      },
      this.websockets,
    );
  }

  /**
   * An open WebSocket, checked again against the route table now in force: its route must still take upgrades,
   * the `ip_filter` stage must still let it in (IP blocks, read-only mode) and, for an authenticated one, the
   * authenticate stage must still accept its credential (API key revoked or suspended, token expired or revoked).
   * A reason when it no longer holds.
   */
  async #recheck(ctx: RequestContext, opened: RouteTable, route: CompiledRoute, presented: { headers: IncomingHttpHeaders; query: string }): Promise<string | undefined> {
    let current = route;
    if (this.table !== opened) {
      const match = this.table.match(ctx.method, ctx.path);
      if (match.kind !== 'found' || match.route.websocket === undefined) return 'the route no longer takes WebSocket connections';
      current = match.route;
    }
    Object.assign(ctx.req.headers, presented.headers);
    ctx.restoreQuery(presented.query);
    const trace = ctx.trace;
    ctx.trace = undefined;
    ctx.revalidating = true;
    try {
      await runRequestStages(ctx, current, 'ip_filter');
      if (ctx.identity === undefined) return undefined;
      await runRequestStages(ctx, current, 'authenticate');
      return ctx.identity === undefined ? 'credential no longer valid' : undefined;
    } catch (error) {
      const code = toGatewayError(error).code;
      this.#logger.debug({ requestId: ctx.id, code, err: errorForLog(error) }, 'open WebSocket re-check refused');
      if (code === 'read_only') return 'the API is read-only';
      if (code === 'ip_blocked' || code === 'forbidden') return 'the client is no longer allowed';
      return code === 'internal' || code === 'service_unavailable' ? 'credential could not be checked' : 'credential no longer valid';
    } finally {
      ctx.revalidating = false;
      ctx.trace = trace;
    }
  }

  /**
   * Answers a request that a stray exception (one thrown outside the pipeline's own error handling, caught by the
   * crash guard) hit: 500 problem if nothing was sent yet, else the connection is cut. Never throws.
   */
  failRequest(ctx: RequestContext, error: unknown): void {
    if (ctx.res.writableFinished) return;
    try {
      ctx.decision = 'error';
      ctx.errorCode = 'internal';
      ctx.notes.reason = 'stray exception';
      if (ctx.res.headersSent) ctx.res.destroy();
      else sendProblem(ctx, this.table, toGatewayError(error));
    } catch {
      ctx.res.destroy();
    }
  }

  async #run(ctx: RequestContext, table: RouteTable): Promise<void> {
    const route = this.#route(ctx, table);
    if (route !== undefined) await runRoute(ctx, route, this.#endsFor(table));
  }

  /**
   * Normalises and routes a request (stages 1–3): the target, the forwarded host, the route and its parameters.
   * Undefined when the request was answered here (a CORS preflight); throws to deny.
   */
  #route(ctx: RequestContext, table: RouteTable): CompiledRoute | undefined {
    // HTTP/1.1 header size is capped by the parser (maxHeaderSize); HTTP/2 peers may ignore SETTINGS_MAX_HEADER_LIST_SIZE.
    if ('stream' in ctx.req && headerListSize(ctx.req.rawHeaders) > table.config.limits.max_header_bytes) {
      throw new GatewayError('headers_too_large', 'HTTP/2 header list over limits.max_header_bytes');
    }
    const target = parseTarget(ctx.req.url ?? '/', table.config.limits.max_url_length);
    ctx.path = target.path;
    ctx.rawQuery = target.rawQuery;
    ctx.forwardedHost = this.#forwardedHost(ctx, table);

    if (ctx.method === 'OPTIONS' && ctx.headers['access-control-request-method'] !== undefined) {
      this.#preflight(ctx, table);
      return undefined;
    }
    const match = table.match(ctx.method, ctx.path);
    if (match.kind === 'not_found') throw new GatewayError('not_found', 'no route');
    if (match.kind === 'method_not_allowed') {
      throw new GatewayError('method_not_allowed', `method ${ctx.method} not declared`, { headers: { allow: match.allowed.join(', ') } });
    }
    const route = match.route;
    ctx.route = route;
    ctx.params = match.params;
    ctx.trace?.routed(route);
    return route;
  }

  /** The runner's ends for one table (built once per table, not per request): proxy, respond, discard. */
  #endsFor(table: RouteTable): PipelineEnds {
    let ends = this.#ends.get(table);
    if (ends) return ends;
    ends = {
      proxy: async (ctx, route) => {
        if (route.local) return route.local(ctx);
        const span = ctx.trace?.span('upstream', { 'rampart.upstream': route.upstreamName, 'http.request.method': ctx.method }, true);
        try {
          // Signed per try: an assertion's jti is single-use for upstreams that check it, and a retry is a new try.
          const assertion = () => (ctx.identity && this.identity ? this.identity.headersFor(ctx, route.upstreamName, table.config.identity) : undefined);
          const response = await dispatch(ctx, route, this.#pools.upstream(route.upstreamName, route.upstream), assertion, {
            upstreamPath: upstreamPath(ctx, route),
            trustedProxies: table.trustedProxies,
            removeHeaders: table.securityHeaders.remove,
            forwardedHost: ctx.forwardedHost,
            traceHeaders: span?.propagation(),
          });
          span?.set('http.response.status_code', response.status);
          if (ctx.notes.upstreamTarget) span?.set('server.address', ctx.notes.upstreamTarget);
          if (ctx.notes.retries) span?.set('rampart.retries', ctx.notes.retries);
          span?.end();
          return response;
        } catch (error) {
          // A client that hung up aborted this call: not the upstream's failure (no error status to alert on).
          if (ctx.clientGone) span?.set('rampart.client_gone', 1);
          span?.end(ctx.clientGone ? undefined : error);
          throw error;
        }
      },
      respond: (ctx, response) => sendResponse(ctx, table, response),
      discard: (response) => discardBody(response.stream),
    };
    this.#ends.set(table, ends);
    return ends;
  }

  /**
   * The host sent upstream as X-Forwarded-Host. With `listen.hosts`, the client's Host must be one of them (421
   * otherwise); without, it is the address of the listener the request arrived on, never the client-chosen Host.
   */
  #forwardedHost(ctx: RequestContext, table: RouteTable): string | undefined {
    const authority = (ctx.headers[':authority'] as string | undefined) ?? ctx.headers.host;
    if (table.hosts) {
      const host = table.hosts.match(authority);
      if (host === undefined) throw new GatewayError('misdirected_request', 'Host is not in listen.hosts');
      return host;
    }
    const socket = ctx.req.socket;
    return listenerAuthority(socket?.localAddress, socket?.localPort);
  }

  /** CORS preflight, answered by the gateway from the route's allowlist; never forwarded. */
  #preflight(ctx: RequestContext, table: RouteTable): void {
    const origin = ctx.headers['origin'];
    const requested = String(ctx.headers['access-control-request-method']).toUpperCase();
    const match = table.match(requested, ctx.path);
    if (match.kind === 'not_found') throw new GatewayError('not_found', 'preflight for unknown path');
    const headers = match.kind === 'found' && typeof origin === 'string'
      ? match.route.cors?.preflight(origin, requested, ctx.headers['access-control-request-headers'] as string | undefined)
      : undefined;
    if (!headers) throw new GatewayError('cors_rejected', 'preflight origin, method or headers not allowed');
    ctx.route = match.kind === 'found' ? match.route : undefined;
    finishHeaders(ctx, table, headers, 204);
    ctx.res.writeHead(204, headers);
    ctx.res.end();
  }

  #deny(ctx: RequestContext, table: RouteTable, thrown: unknown): void {
    const error = toGatewayError(thrown);
    ctx.decision = error.code === 'internal' ? 'error' : 'deny';
    ctx.errorCode = error.code;
    ctx.notes.reason = safeReason(error.message);
    // 5xx are gateway or upstream faults, logged as errors; read-only mode is a deliberate refusal.
    if (error.code === 'internal' || (error.status >= 502 && error.code !== 'read_only')) {
      this.#logger.error({ requestId: ctx.id, code: error.code, stage: ctx.deniedBy, err: errorForLog(thrown) }, ctx.notes.reason);
    } else {
      this.#logger.debug({ requestId: ctx.id, code: error.code, stage: ctx.deniedBy, reason: ctx.notes.reason }, 'request denied');
    }
    if (ctx.clientGone) return;
    const send = (problem: GatewayError) => {
      try {
        sendProblem(ctx, table, problem);
      } catch (sendError) {
        this.#logger.error({ requestId: ctx.id, err: errorForLog(sendError) }, 'could not send problem response');
        ctx.res.destroy();
      }
    };
    let gate: Promise<void> | undefined;
    try {
      gate = this.#denyGate?.(ctx, error.status);
    } catch (gateError) {
      gate = Promise.reject(gateError);
    }
    if (!gate) return send(error);
    void gate.then(
      () => send(error),
      (gateError: unknown) => {
        // Nothing is acknowledged that the audit trail did not keep: the deny itself becomes a 503.
        this.#logger.error({ requestId: ctx.id, err: errorForLog(gateError) }, 'audit record of a deny could not be committed');
        ctx.errorCode = 'service_unavailable';
        send(new GatewayError('service_unavailable', 'audit record could not be committed', { cause: gateError, headers: { 'retry-after': '1' } }));
      },
    );
  }
}

/** The path and query sent upstream: the API's base path stripped, the query as received. */
function upstreamPath(ctx: RequestContext, route: CompiledRoute): string {
  const inner = stripPrefix(ctx.path, route.api.base_path) ?? ctx.path;
  return ctx.rawQuery === '' ? inner : `${inner}?${ctx.rawQuery}`;
}

/** Header list size as HTTP/2 counts it (RFC 9113 §6.5.2): name + value + 32 octets per field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) size += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
  return size;
}
