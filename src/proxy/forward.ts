import { EventEmitter } from 'node:events';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { GatewayError } from '../problem.ts';
import { MAX_RESPONSE_BUFFER_BYTES } from '../http/limits.ts';
import type { RequestContext, CompiledRoute, UpstreamResponse } from '../pipeline/types.ts';
import { isTrusted, normaliseIp } from '../http/normalise.ts';
import type { BlockList } from 'node:net';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { EventStreamCheck } from './event-stream.ts';
import { mediaTypeOf } from '../http/media.ts';


/** Counts request body bytes as they stream and fails the stream once the route's cap is passed. */
class BodyCap extends Transform {
  readonly #limit: number;
  #seen = 0;
  exceeded = false;
  constructor(limit: number) {
    super();
    this.#limit = limit;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) {
      this.exceeded = true;
      callback(new GatewayError('payload_too_large', `streamed body passed ${this.#limit} bytes`));
      return;
    }
    callback(null, chunk);
  }
}

export interface ForwardOptions {
  readonly pool: Pool;
  /** Path to send upstream (base path stripped, query kept). */
  readonly upstreamPath: string;
  readonly trustedProxies: BlockList | undefined;
  /** Response headers removed whatever the upstream sends (banners). */
  readonly removeHeaders: ReadonlySet<string>;
  /** The `X-Forwarded-Host` sent upstream: the host the client addressed, when it is one the gateway serves. */
  readonly forwardedHost: string | undefined;
  readonly extraHeaders?: Record<string, string>;
  /** The gateway's W3C trace context for the upstream call; replaces whatever `traceparent`/`tracestate` the client sent. */
  readonly traceHeaders?: Record<string, string>;
  readonly responseBufferBytes?: number;
  /** The target's URL (`http(s)://host:port`), for the gateway's signature of the request (`ctx.upstreamSigner`). */
  readonly origin?: string;
}

/**
 * Stage 11: sends the request upstream over the route's keep-alive pool and returns its response, never writing
 * to the client. The request body streams unless a stage buffered it; the response body is buffered (up to the
 * cap) only when the route's response stages read it. A HEAD on such a route is sent upstream as GET, so the
 * stages judge the body a GET would return (ownership on HEAD) and the client gets its real length. The upstream
 * call is aborted when the client goes away. Throws GatewayError for 413/502/504.
 */
export async function forward(ctx: RequestContext, route: CompiledRoute, options: ForwardOptions): Promise<UpstreamResponse> {
  const { pool } = options;
  const req = ctx.req;
  const headers = upstreamHeadersFor(ctx, options);

  let body: Buffer | Readable | undefined;
  let cap: BodyCap | undefined;
  const buffered = ctx.bufferedBody;
  if (buffered) {
    body = buffered;
    headers['content-length'] = String(buffered.length);
  } else if (ctx.hasBody) {
    cap = new BodyCap(route.maxBodyBytes);
    body = req.pipe(cap);
  }

  // An EventEmitter, which undici accepts as a signal: an AbortController costs an EventTarget, a `once` listener
  // registration and its removal per request, all on the hot path.
  const abort = new EventEmitter();
  const onClose = () => {
    if (!ctx.res.writableFinished) abort.emit('abort');
  };
  ctx.res.once('close', onClose);
  const method = ctx.method === 'HEAD' && route.buffersResponse ? 'GET' : ctx.method;
  if (ctx.upstreamSigner) {
    // Signed last, over the request exactly as it leaves: the final headers, method, target and this try's origin.
    if (options.origin === undefined) {
      ctx.res.off('close', onClose);
      throw new GatewayError('internal', 'upstream signing without a target origin');
    }
    const origin = new URL(options.origin);
    Object.assign(headers, ctx.upstreamSigner.sign({ method, scheme: origin.protocol === 'https:' ? 'https' : 'http', authority: origin.host, target: options.upstreamPath, headers }));
  }

  const started = process.hrtime.bigint();
  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await pool.request({ path: options.upstreamPath, method: method as Dispatcher.HttpMethod, headers, body: body ?? null, signal: abort });
  } catch (error) {
    ctx.res.off('close', onClose);
    if (cap?.exceeded) throw new GatewayError('payload_too_large', 'request body over cap while streaming');
    throw upstreamError(error);
  } finally {
    ctx.upstreamNs = process.hrtime.bigint() - started;
  }
  ctx.upstreamStatus = upstream.statusCode;
  let responseHeaders: Record<string, string | string[]>;
  try {
    responseHeaders = downstreamResponseHeaders(upstream.headers, options.removeHeaders);
  } catch (error) {
    ctx.res.off('close', onClose);
    discardBody(upstream.body);
    throw error;
  }
  const response: UpstreamResponse = { status: upstream.statusCode, headers: responseHeaders, body: undefined, stream: undefined };
  const events = route.buffersResponse && isEventStream(responseHeaders['content-type']);
  if (events && !route.eventStream) {
    // An endless stream would wait on a buffer that never completes: the contract does not allow it, so say so now.
    ctx.res.off('close', onClose);
    discardBody(upstream.body);
    throw new GatewayError('upstream_invalid_response', 'upstream sent text/event-stream where the operation declares none');
  }
  if (!route.buffersResponse || events) {
    // Streaming: the abort listener stays until the body is sent (respond.ts), so a client leaving mid-body
    // still releases the upstream; it is removed with the response.
    upstream.body.once('close', () => ctx.res.off('close', onClose));
    const check = events ? route.eventStream?.check : undefined;
    if (check) {
      const checked = new EventStreamCheck({ ...route.eventStream!, check }, (reason) => (ctx.notes.responseViolation = reason));
      pipeline(upstream.body, checked, () => undefined);
      response.stream = checked;
    } else {
      response.stream = upstream.body;
    }
    return response;
  }
  try {
    response.body = await readCapped(upstream.body, options.responseBufferBytes ?? MAX_RESPONSE_BUFFER_BYTES);
  } finally {
    ctx.res.off('close', onClose);
  }
  return response;
}

/**
 * The request headers for the upstream (an HTTP request or a WebSocket's upstream handshake): the client's, filtered,
 * with the forwarding headers (the X-Forwarded-For chain kept only from a trusted proxy), `extraHeaders` and the
 * credential stage's headers; `strip` (default: the credential stage's) names client headers to leave out too.
 */
export function upstreamHeadersFor(
  ctx: RequestContext,
  options: Pick<ForwardOptions, 'trustedProxies' | 'forwardedHost' | 'extraHeaders' | 'traceHeaders'>,
  strip: ReadonlySet<string> | undefined = ctx.stripUpstreamHeaders,
): Record<string, string | string[]> {
  const req = ctx.req;
  const trusted = options.trustedProxies;
  const peerIp = normaliseIp(req.socket?.remoteAddress);
  const viaProxy = trusted !== undefined && isTrusted(trusted, peerIp);
  return upstreamRequestHeaders(
    req.headers,
    {
      requestId: ctx.id,
      clientIp: ctx.clientIp,
      proto: ctx.secure ? 'https' : 'http',
      host: options.forwardedHost,
      priorForwardedFor: viaProxy ? joinHeader(req.headers['x-forwarded-for']) : undefined,
      peerIp,
      trace: options.traceHeaders,
    },
    ctx.upstreamHeaders === undefined ? options.extraHeaders : { ...options.extraHeaders, ...ctx.upstreamHeaders },
    strip,
  );
}

function noop(): void {}

function isEventStream(contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return value !== undefined && mediaTypeOf(value) === 'text/event-stream';
}

/**
 * Releases an upstream body nobody will read. A listener stays on `error` for good: a destroyed stream can still
 * report an error on a later tick, and an `error` with no listener ends the process.
 */
export function discardBody(stream: Readable | undefined): void {
  if (!stream || stream.destroyed) return;
  stream.on('error', noop);
  stream.destroy();
}

function joinHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Buffers the upstream body up to `limit` bytes. Listens for data/end/error rather than `for await`: the async
 * iterator costs an object and a promise per chunk, and showed in a `--cpu-prof` of the full benchmark. Over the
 * cap, the stream is discarded (connection released) and the request fails with a 502.
 */
function readCapped(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        discardBody(stream);
        reject(new GatewayError('upstream_invalid_response', `upstream body over the ${limit}-byte response buffer`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      discardBody(stream);
      reject(upstreamError(error));
    };
    const onClose = () => {
      cleanup();
      reject(upstreamError(Object.assign(new Error('upstream body closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Maps an undici failure to 504 (timeouts) or 502 (everything else), keeping the cause for the log. */
export function upstreamError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) return new GatewayError('upstream_timeout', `upstream timed out (${code})`, { cause: error });
  return new GatewayError('upstream_unavailable', `upstream request failed (${code || (error as Error).name})`, { cause: error });
}
