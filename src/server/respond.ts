import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ACCEPTED_DIGESTS, contentDigestOf, digestFieldOf, digestHash, digestMatches, fieldDigests, type DigestAlgorithm } from '../http/digest.ts';
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
    digestBufferedBody(ctx, out, body, response.status);
    // HEAD: the same signature a GET gets would need the GET's body; signed without it (no Content-Digest added).
    ctx.responseSigner?.sign(response.status, out, ctx.method === 'HEAD' ? undefined : body);
    ctx.res.writeHead(response.status, out);
    if (ctx.method === 'HEAD') ctx.res.end();
    else ctx.res.end(body);
    return undefined;
  }
  const trailers = digestTrailers(ctx, out, response.status);
  ctx.responseSigner?.sign(response.status, out, undefined);
  ctx.res.writeHead(response.status, out);
  return streamBody(response.stream, ctx.res, trailers);
}

/** The digest fields a client asked for that describe `headers`' body as sent (Repr-Digest only when not coded). */
function wantedDigests(ctx: RequestContext, headers: OutgoingHttpHeaders): [string, DigestAlgorithm][] {
  const wanted = ctx.responseDigests;
  if (wanted === undefined) return [];
  const out: [string, DigestAlgorithm][] = [];
  if (wanted.content) out.push(['content-digest', wanted.content]);
  const coding = headers['content-encoding'];
  if (wanted.repr && (coding === undefined || String(coding).toLowerCase() === 'identity')) out.push(['repr-digest', wanted.repr]);
  return out;
}

/**
 * A buffered body: the upstream's own digest fields stay only while they still match the bytes sent (response
 * stages may have changed them), and the digests the client asked for are added.
 */
function digestBufferedBody(ctx: RequestContext, headers: OutgoingHttpHeaders, body: Buffer, status: number): void {
  // A HEAD, 204 or 304 answer has no body to hash: the upstream's fields (about the representation) pass as they are.
  if (ctx.method === 'HEAD' || status === 204 || status === 304) return;
  // A 206 carries part of the representation: its Content-Digest is of that part, its Repr-Digest of the whole,
  // which the gateway cannot compute; the upstream's Repr-Digest passes as it is.
  const partial = status === 206;
  for (const field of partial ? (['content-digest'] as const) : (['content-digest', 'repr-digest'] as const)) {
    const given = headers[field];
    if (given === undefined) continue;
    let ok = false;
    try {
      const digests = fieldDigests(field, String(given), ACCEPTED_DIGESTS);
      ok = digests.length > 0 && digests.every((d) => digestMatches(d, body));
    } catch {
      ok = false;
    }
    if (!ok) delete headers[field];
  }
  for (const [field, algorithm] of wantedDigests(ctx, headers)) if (!partial || field === 'content-digest') headers[field] = contentDigestOf(body, algorithm);
}

/**
 * A streamed body: the digests the client asked for go in trailers, hashed as the bytes pass (no buffering), when
 * the client takes trailers (HTTP/2, or HTTP/1.1 with `TE: trailers`; the body is then sent chunked). Otherwise none
 * is sent: a digest header would need the whole body first.
 */
function digestTrailers(ctx: RequestContext, headers: OutgoingHttpHeaders, status: number): [string, DigestAlgorithm][] | undefined {
  if (ctx.method === 'HEAD' || status === 204 || status === 304) return undefined;
  const wanted = wantedDigests(ctx, headers).filter(([field]) => status !== 206 || field === 'content-digest');
  if (wanted.length === 0) return undefined;
  const h2 = ctx.req.httpVersionMajor === 2;
  // Trailers need a chunked HTTP/1.1 body (an HTTP/1.0 response cannot carry them: Node would refuse the header).
  if (!h2 && ctx.req.httpVersion !== '1.1') return undefined;
  if (!h2 && !/(?:^|,)\s*trailers\s*(?:[;,]|$)/i.test(String(ctx.headers['te'] ?? ''))) return undefined;
  for (const [field] of wanted) delete headers[field];
  if (!h2) {
    headers['trailer'] = wanted.map(([field]) => field).join(', ');
    delete headers['content-length'];
  }
  return wanted;
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
function streamBody(body: Readable, res: RequestContext['res'], trailers?: readonly [string, DigestAlgorithm][]): Promise<string | undefined> {
  if (trailers !== undefined) {
    // Listeners added before pipe() run first: the hashes see every chunk, and the trailers are set before pipe ends the response.
    const hashes = trailers.map(([field, algorithm]) => [field, algorithm, digestHash(algorithm)] as const);
    body.on('data', (chunk: Buffer) => {
      for (const [, , hash] of hashes) hash.update(chunk);
    });
    body.once('end', () => res.addTrailers(Object.fromEntries(hashes.map(([field, algorithm, hash]) => [field, digestFieldOf(algorithm, hash)]))));
  }
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
