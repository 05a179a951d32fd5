import type { OutgoingHttpHeaders } from 'node:http';
import { problemBody, type GatewayError } from '../problem.ts';
import type { RequestContext } from '../pipeline/context.ts';
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
  const body = JSON.stringify(problemBody(error.code, ctx.id, error.errors));
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
  };
  if (error.headers) Object.assign(headers, error.headers);
  finishHeaders(ctx, table, headers, error.status);
  res.writeHead(error.status, headers);
  if (ctx.method === 'HEAD') res.end();
  else res.end(body);
  return error.status;
}
