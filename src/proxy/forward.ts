import { EventEmitter } from 'node:events';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Dispatcher, Pool } from 'undici';
import { GatewayError } from '../problem.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { RouteTable } from '../pipeline/compile.ts';
import type { CompiledRoute } from '../pipeline/route.ts';
import type { ProxiedResponse } from '../pipeline/stages.ts';
import { finishHeaders } from '../server/respond.ts';
import { isTrusted, normaliseIp } from '../policies/normalise/index.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';

/** Largest upstream response body buffered for response policies; past it the response is refused (502). */
export const DEFAULT_RESPONSE_BUFFER_BYTES = 8 * 1024 * 1024;

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
  readonly table: RouteTable;
  readonly pool: Pool;
  /** Path to send upstream (base path stripped, query kept). */
  readonly upstreamPath: string;
  readonly extraHeaders?: Record<string, string>;
  readonly responseBufferBytes?: number;
}

/**
 * Stage 11 + 12: sends the request upstream over the route's keep-alive pool, runs response policies, and writes
 * the response back with hygiene and security headers. The request body streams unless a stage buffered it; the
 * response body streams unless a response policy needs it. Throws GatewayError for 413/502/504 before anything
 * has been written to the client.
 */
export async function forward(ctx: RequestContext, route: CompiledRoute, options: ForwardOptions): Promise<void> {
  const { table, pool } = options;
  const req = ctx.req;
  const trusted = table.trustedProxies;
  const peerIp = normaliseIp(req.socket?.remoteAddress);
  const viaProxy = trusted !== undefined && isTrusted(trusted, peerIp);
  const headers = upstreamRequestHeaders(
    req.headers,
    {
      requestId: ctx.id,
      clientIp: ctx.clientIp,
      proto: ctx.secure ? 'https' : 'http',
      host: (req.headers[':authority'] as string | undefined) ?? req.headers.host,
      priorForwardedFor: viaProxy ? joinHeader(req.headers['x-forwarded-for']) : undefined,
      peerIp,
    },
    options.extraHeaders,
  );

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

  const started = process.hrtime.bigint();
  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await pool.request({
      path: options.upstreamPath,
      method: ctx.method as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
      signal: abort,
    });
  } catch (error) {
    if (cap?.exceeded) throw new GatewayError('payload_too_large', 'request body over cap while streaming');
    throw upstreamError(error);
  } finally {
    ctx.upstreamNs = process.hrtime.bigint() - started;
  }
  ctx.upstreamStatus = upstream.statusCode;

  const response: ProxiedResponse = {
    status: upstream.statusCode,
    headers: downstreamResponseHeaders(upstream.headers, table.securityHeaders.remove),
    body: undefined,
  };
  if (route.buffersResponse) response.body = await readCapped(upstream.body, options.responseBufferBytes ?? DEFAULT_RESPONSE_BUFFER_BYTES);
  for (const policy of route.responsePolicies) {
    const pending = policy.run(ctx, response);
    if (pending) await pending;
  }

  const out = finishHeaders(ctx, table, response.headers as OutgoingHttpHeaders, response.status);
  if (response.body !== undefined) {
    out['content-length'] = response.body.length;
    ctx.res.writeHead(response.status, out);
    if (ctx.method === 'HEAD') ctx.res.end();
    else ctx.res.end(response.body);
    return;
  }
  ctx.res.writeHead(response.status, out);
  const streamError = await streamBody(upstream.body, ctx.res);
  if (streamError !== undefined) ctx.notes['streamError'] = streamError;
  ctx.res.off('close', onClose);
}

/**
 * Pipes the upstream body to the client and resolves when the response has finished, or with an error code when
 * either side failed (the other side is then destroyed). Not `stream.pipeline`: it creates and aborts an
 * AbortController per call, and the DOMException that abort builds was 7% of the gateway's CPU in a
 * `--cpu-prof` of the passthrough benchmark.
 */
function streamBody(body: Readable, res: RequestContext['res']): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (code: string | undefined) => {
      if (settled) return;
      settled = true;
      body.off('error', onError);
      res.off('finish', onFinish);
      res.off('close', onClose);
      res.off('error', onError);
      resolve(code);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      body.destroy();
      res.destroy();
      settle(error.code ?? error.name);
    };
    const onFinish = () => settle(undefined);
    const onClose = () => {
      if (res.writableFinished) return settle(undefined);
      body.destroy();
      settle('ERR_STREAM_PREMATURE_CLOSE');
    };
    body.on('error', onError);
    res.on('error', onError);
    res.on('finish', onFinish);
    res.on('close', onClose);
    body.pipe(res);
  });
}

function joinHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Buffers the upstream body up to `limit` bytes. Listens for data/end/error rather than `for await`: the async
 * iterator costs an object and a promise per chunk, and showed in a `--cpu-prof` of the full benchmark.
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
        stream.destroy();
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
