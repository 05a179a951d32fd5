import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { listenerAuthority } from '../http/hosts.ts';
import { GatewayError, toGatewayError } from '../problem.ts';
import { RequestContext, type ServerRequest, type ServerResponseLike } from '../pipeline/types.ts';
import { stripPrefix, type RouteTable } from '../pipeline/compile.ts';
import { outcomeOf, type RecordSink } from '../pipeline/types.ts';
import { clientIpOf, parseTarget, requestIdOf } from '../http/normalise.ts';
import { discardBody } from '../proxy/forward.ts';
import { dispatch } from '../proxy/dispatch.ts';
import { runRoute, type PipelineEnds } from '../pipeline/run.ts';
import type { IdentityAsserter } from '../proxy/identity.ts';
import type { UpstreamPools } from '../proxy/pools.ts';
import type { Tracing } from '../tracing/tracer.ts';
import { finishHeaders, safeReason, sendProblem, sendResponse } from './respond.ts';

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
    const ctx = new RequestContext(req, res, requestIdOf(req.headers['x-request-id']), clientIpOf(req, table.trustedProxies), secure);
    if (this.tracing !== undefined) ctx.trace = this.tracing.begin(ctx, table.trustedProxies);
    this.#inFlight++;
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      this.#inFlight--;
      // A stream reset or connection closed before the answer was sent is not a 200 (Node's default statusCode).
      const status = res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS;
      // HTTP/2: a reset stream's response reports writableFinished although end() was never called.
      if (!res.writableFinished || !res.writableEnded) ctx.clientGone = true;
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
    res.once('close', record);
    this.scope.run(ctx, () => this.#run(ctx, table).catch((error: unknown) => this.#deny(ctx, table, error)));
  };

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
      return;
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

    await runRoute(ctx, route, this.#endsFor(table));
  }

  /** The runner's ends for one table (built once per table, not per request): proxy, respond, discard. */
  #endsFor(table: RouteTable): PipelineEnds {
    let ends = this.#ends.get(table);
    if (ends) return ends;
    ends = {
      proxy: async (ctx, route) => {
        if (route.local) return route.local(ctx);
        const inner = stripPrefix(ctx.path, route.api.base_path) ?? ctx.path;
        const span = ctx.trace?.span('upstream', { 'rampart.upstream': route.upstreamName, 'http.request.method': ctx.method }, true);
        try {
          const response = await dispatch(ctx, route, this.#pools.upstream(route.upstreamName, route.upstream), {
            upstreamPath: ctx.rawQuery === '' ? inner : `${inner}?${ctx.rawQuery}`,
            trustedProxies: table.trustedProxies,
            removeHeaders: table.securityHeaders.remove,
            forwardedHost: ctx.forwardedHost,
            extraHeaders: ctx.identity && this.identity ? await this.identity.headersFor(ctx, route.upstreamName, table.config.identity) : undefined,
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
    if (error.code === 'internal' || error.status >= 502) {
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

/** Header list size as HTTP/2 counts it (RFC 9113 §6.5.2): name + value + 32 octets per field. */
function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) size += rawHeaders[i]!.length + rawHeaders[i + 1]!.length + 32;
  return size;
}
