import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { GatewayError } from '../problem.ts';
import type { CompiledRoute } from './route.ts';

export type ServerRequest = IncomingMessage | Http2ServerRequest;
/** What the pipeline uses of a response; both `http.ServerResponse` and `http2.Http2ServerResponse` fit. */
export interface ServerResponseLike extends NodeJS.WritableStream {
  readonly headersSent: boolean;
  statusCode: number;
  readonly writableFinished: boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  destroy(error?: Error): unknown;
}

/** Who is calling, as established by the authenticate stage. */
export interface Identity {
  readonly subject: string;
  readonly consumer?: string;
  readonly tenant?: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  /** How the caller authenticated: `jwt`, `introspection`, `api_key`, `mtls`. */
  readonly method: string;
  /** Key id for API keys (never the key itself). */
  readonly keyId?: string;
}

/** What the gateway decided, for the access log, audit and metrics. */
export type Decision = 'allow' | 'deny' | 'error';

/**
 * Per-request state passed through the stages. Plain fields (no getters that do work) so the hot path stays cheap;
 * the body is buffered only when a stage asks for it, and then only up to the route's cap.
 */
export class RequestContext {
  readonly id: string;
  readonly req: ServerRequest;
  readonly res: ServerResponseLike;
  readonly startedAt: bigint;
  readonly secure: boolean;
  readonly method: string;
  /** Path as received (validated, still percent-encoded), without the API's base path stripped. */
  path = '/';
  /** Query string without the leading `?`, as received. */
  rawQuery = '';
  clientIp: string;
  route: CompiledRoute | undefined = undefined;
  params: Record<string, string> = {};
  identity: Identity | undefined = undefined;
  decision: Decision = 'allow';
  /** Error code that ended the request, when denied. */
  errorCode: string | undefined = undefined;
  /** Stage that denied, when denied. */
  deniedBy: string | undefined = undefined;
  upstreamStatus: number | undefined = undefined;
  /** Time spent waiting on the upstream, in nanoseconds. */
  upstreamNs = 0n;
  /** The host sent upstream as X-Forwarded-Host (from `listen.hosts` or the listener), set by normalisation. */
  forwardedHost: string | undefined = undefined;
  /** Set once the client went away (connection closed, HTTP/2 stream reset) before its response finished. */
  clientGone = false;
  /** Headers policies add to the client response, success or error (e.g. rate-limit headers); set in finishHeaders. */
  responseHeaders: Record<string, string> | undefined = undefined;
  /** Free-form annotations later stages and policies add for the record stage (never secrets). */
  readonly notes: Record<string, unknown> = {};
  #body: Buffer | undefined;
  #bodyPromise: Promise<Buffer> | undefined;
  #query: URLSearchParams | undefined;

  constructor(req: ServerRequest, res: ServerResponseLike, id: string, clientIp: string, secure: boolean) {
    this.req = req;
    this.res = res;
    this.id = id;
    this.clientIp = clientIp;
    this.secure = secure;
    this.method = req.method ?? 'GET';
    this.startedAt = process.hrtime.bigint();
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.rawQuery));
  }

  /** Removes every `name` parameter from the query, both for later stages and for the request sent upstream. */
  removeQueryParam(name: string): void {
    // Filter the raw pairs rather than re-serialising: the other parameters reach the upstream byte for byte.
    this.rawQuery = this.rawQuery
      .split('&')
      .filter((pair) => new URLSearchParams(pair).keys().next().value !== name)
      .join('&');
    this.#query = undefined;
  }

  /** The body if a stage has already buffered it. */
  get bufferedBody(): Buffer | undefined {
    return this.#body;
  }

  /** Whether the request carries a body (by its framing headers). */
  get hasBody(): boolean {
    const length = this.req.headers['content-length'];
    if (length !== undefined) return length !== '0';
    if (this.req.headers['transfer-encoding'] !== undefined) return true;
    // HTTP/2 has no framing headers: a request without a body ends its stream with the HEADERS frame.
    return 'stream' in this.req ? !this.req.stream.endAfterHeaders : false;
  }

  /**
   * Buffers the request body, up to `limit` bytes (413 past it). Idempotent: later calls get the same buffer. The
   * proxy then sends the buffer upstream instead of streaming.
   */
  readBody(limit: number): Promise<Buffer> {
    if (this.#body) return Promise.resolve(this.#body);
    this.#bodyPromise ??= new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const req = this.req;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          cleanup();
          req.resume();
          reject(new GatewayError('payload_too_large', `request body exceeded ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanup();
        this.#body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        resolve(this.#body);
      };
      const onError = (error: Error) => {
        cleanup();
        reject(new GatewayError('bad_request', 'request body stream failed', { cause: error }));
      };
      // An HTTP/2 stream reset mid-body emits neither `end` nor `error`, only `close`: without this the request
      // (and its chunks) would wait forever, one leak per reset stream.
      const onClose = () => {
        cleanup();
        reject(new GatewayError('bad_request', 'client went away before the body ended'));
      };
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      if (this.clientGone || req.destroyed) {
        reject(new GatewayError('bad_request', 'client went away before the body was read'));
        return;
      }
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
    return this.#bodyPromise;
  }
}
