import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { GatewayError } from '../problem.ts';
import { problemResponse } from '../http/problem-response.ts';
import type { RequestContext } from '../pipeline/types.ts';
import type { RouteTable } from '../pipeline/compile.ts';

/**
 * Adds the headers every response carries: security headers, request id, no-store for authenticated or error
 * responses, CORS for allowed origins, Deprecation for deprecated operations, Sunset from `x-rampart-sunset`.
 * Mutates and returns `headers`.
 */
export function finishHeaders(ctx: RequestContext, table: RouteTable, headers: OutgoingHttpHeaders, status: number): OutgoingHttpHeaders {
  Object.assign(headers, ctx.secure ? table.securityHeaders.tls : table.securityHeaders.plain);
  headers['x-request-id'] = ctx.id;
  if (ctx.responseHeaders !== undefined) Object.assign(headers, ctx.responseHeaders);
  if (ctx.identity !== undefined || status >= 400) headers['cache-control'] = 'no-store';
  const route = ctx.route;
  if (route) {
    if (route.cors) {
      const origin = ctx.headers['origin'];
      if (typeof origin === 'string') Object.assign(headers, route.cors.responseHeaders(origin));
    }
    if (route.operation?.deprecated) headers['deprecation'] = 'true';
    if (route.operation?.sunset !== undefined) headers['sunset'] = route.operation.sunset;
  }
  return headers;
}

/**
 * Answers with an RFC 9457 problem. If the response has already started, the only safe thing left is to cut the
 * connection. Returns the status sent.
 */
export function sendProblem(ctx: RequestContext, table: RouteTable, error: GatewayError): number {
  const res = ctx.res;
  if (res.headersSent) {
    res.destroy();
    return res.statusCode;
  }
  const { headers, body } = problemResponse(error.code, ctx.id, { ...(error.errors ? { errors: error.errors } : {}), ...(error.headers ? { headers: error.headers } : {}) });
  finishHeaders(ctx, table, headers, error.status);
  res.writeHead(error.status, headers);
  if (ctx.method === 'HEAD') res.end();
  else res.end(body);
  return error.status;
}

/** What the proxy returned, after the response stages: a buffered body or a stream to pipe (see proxy/forward.ts). */
export interface OutgoingResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | undefined;
  readonly stream: Readable | undefined;
}

/**
 * Writes the upstream's (checked) response to the client with the gateway's headers. A buffered body gets its
 * exact length; a HEAD answer carries the length a GET would have had and no body. Resolves with an error code
 * when streaming failed on either side (the other side is then destroyed), else undefined.
 */
export function sendResponse(ctx: RequestContext, table: RouteTable, response: OutgoingResponse): Promise<string | undefined> | undefined {
  const out = finishHeaders(ctx, table, response.headers as OutgoingHttpHeaders, response.status);
  if (response.stream === undefined) {
    const body = response.body ?? EMPTY;
    out['content-length'] = body.length;
    ctx.res.writeHead(response.status, out);
    if (ctx.method === 'HEAD') ctx.res.end();
    else ctx.res.end(body);
    return undefined;
  }
  ctx.res.writeHead(response.status, out);
  return streamBody(response.stream, ctx.res);
}

const EMPTY = Buffer.alloc(0);

function noop(): void {}

/**
 * Pipes the upstream body to the client and resolves when the response has finished, or with an error code when
 * either side failed (the other side is then destroyed). Not `stream.pipeline`: it creates and aborts an
 * AbortController per call, and the DOMException that abort builds was 7% of the gateway's CPU in a
 * `--cpu-prof` of the passthrough benchmark. Error listeners stay on both sides after settling: a destroyed stream
 * may still report an error, and one with no listener would end the process.
 */
function streamBody(body: Readable, res: RequestContext['res']): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (code: string | undefined) => {
      if (settled) return;
      settled = true;
      res.off('finish', onFinish);
      res.off('close', onClose);
      body.off('error', onError);
      res.off('error', onError);
      body.on('error', noop);
      res.on('error', noop);
      resolve(code);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      settle(error.code ?? error.name);
      body.destroy();
      res.destroy();
    };
    const onFinish = () => settle(undefined);
    const onClose = () => {
      if (res.writableFinished) return settle(undefined);
      settle('ERR_STREAM_PREMATURE_CLOSE');
      body.destroy();
    };
    body.on('error', onError);
    res.on('error', onError);
    res.on('finish', onFinish);
    res.on('close', onClose);
    body.pipe(res);
  });
}

const UNSAFE_REASON = /[^\x20-\x7e]/g;

/**
 * A deny reason as it may be logged and audited: printable ASCII only and at most 200 characters, so text a client
 * chose (a media type, a method) can neither forge log lines nor bloat records.
 */
export function safeReason(reason: string): string {
  const clean = reason.replace(UNSAFE_REASON, '?');
  return clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
}
