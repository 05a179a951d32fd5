import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { constants as http2constants, createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import type { HttpListenerConfig, HttpsListenerConfig, LimitsConfig } from '../config/types.ts';
import type { ErrorCode } from '../problem.ts';
import { problemResponse, rawProblem } from '../http/problem-response.ts';

export type Handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, secure: boolean) => void;
/** An HTTP/1.1 request asking to switch protocols (`upgrade` event), with the socket and the bytes already read past it. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean) => void;
export type AnyServer = HttpServer | Http2SecureServer;

/** Sessions and sockets a listener holds, so shutdown can drain and then close them. */
export interface Tracked {
  readonly server: AnyServer;
  readonly sessions: Set<ServerHttp2Session>;
}

/**
 * The TLS listener: HTTP/2 and HTTP/1.1 negotiated by ALPN on one port, with the listener-wide limits (header
 * size, slowloris timeouts, keep-alive). Protocol errors are answered with a problem body and the connection closed.
 */
export function createTlsListener(config: HttpsListenerConfig, limits: LimitsConfig, tls: SecureContextOptions, handler: Handler, onUpgrade?: UpgradeHandler): Tracked {
  const sessions = new Set<ServerHttp2Session>();
  // maxHeaderSize and connectionsCheckingInterval also apply to the HTTP/1.1 side of the HTTP/2 server (allowHTTP1).
  const common = {
    ...tls,
    maxHeaderSize: limits.max_header_bytes,
    connectionsCheckingInterval: checkingIntervalMs(limits),
    handshakeTimeout: limits.headers_timeout_ms,
  };
  const onRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => handler(req, res, true);
  let server: AnyServer;
  if (config.http2) {
    const h2 = createSecureServer({
      ...common,
      allowHTTP1: true,
      maxSessionMemory: 10,
      settings: { maxHeaderListSize: limits.max_header_bytes, maxConcurrentStreams: 128, enablePush: false },
      peerMaxConcurrentStreams: 128,
    });
    h2.on('request', (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
      // Node applies headersTimeout/requestTimeout to HTTP/1.1 connections only; HTTP/2 streams get the same deadline here.
      if (req.httpVersionMajor === 2) guardHttp2Request(req as Http2ServerRequest, res as Http2ServerResponse, (h2 as unknown as HttpServer).requestTimeout);
      onRequest(req, res);
    });
    h2.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      boundResets(session, () => resetLimits.get(h2) ?? limits.http2_max_resets);
      session.setTimeout(limits.keep_alive_timeout_ms * 12, () => session.close());
    });
    server = h2;
  } else {
    server = createHttpsServer(common, onRequest);
  }
  applyLimits(server, limits);
  resetLimits.set(server, limits.http2_max_resets);
  // Without a listener Node drops upgrade requests silently; with one, each gets an answer (a relay or a problem).
  if (onUpgrade) server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => onUpgrade(req, socket, head, true));
  return { server, sessions };
}

/** `limits.http2_max_resets` per listener, updated on reload. */
const resetLimits = new WeakMap<AnyServer, number>();
const RESET_WINDOW_MS = 10_000;

/**
 * HTTP/2 rapid reset (CVE-2023-44487): a client that opens and immediately resets streams makes the server do the
 * work of each request at no cost to itself. Streams the client aborts before their answer are counted per session
 * over a 10 s window; past the limit the session is closed with GOAWAY ENHANCE_YOUR_CALM. (The handler also never
 * forwards a request whose stream is gone.)
 */
function boundResets(session: ServerHttp2Session, limit: () => number): void {
  let windowStart = Date.now();
  let resets = 0;
  session.on('stream', (stream) => {
    stream.once('aborted', () => {
      const now = Date.now();
      if (now - windowStart > RESET_WINDOW_MS) {
        windowStart = now;
        resets = 0;
      }
      if (++resets <= limit() || session.destroyed) return;
      session.goaway(http2constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
  });
}

/**
 * The plain HTTP listener: the gateway itself only when `insecure` (loopback development), else a 308 redirect
 * to the TLS port for every request.
 */
export function createPlainListener(config: HttpListenerConfig, limits: LimitsConfig, handler: Handler, httpsPort: () => number | undefined, onUpgrade?: UpgradeHandler): Tracked {
  const options = {
    maxHeaderSize: limits.max_header_bytes,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
  const server = createHttpServer(options, (req, res) => {
    if (config.insecure) {
      handler(req, res, false);
      return;
    }
    redirectToHttps(req, res, httpsPort());
  });
  applyLimits(server, limits);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (config.insecure && onUpgrade) return onUpgrade(req, socket, head, false);
    // Redirect mode: a WebSocket client does not follow redirects; the plain socket is refused outright.
    socket.end(rawProblem('bad_request', randomUUID()));
  });
  return { server, sessions: new Set() };
}

const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$/;

function redirectToHttps(req: IncomingMessage, res: ServerResponse, port: number | undefined): void {
  const host = req.headers.host ?? '';
  const match = HOST.exec(host);
  const id = randomUUID();
  if (!match || port === undefined || !(req.url ?? '').startsWith('/')) {
    writeProblem(res, 'bad_request', id);
    return;
  }
  const location = `https://${match[1]}${port === 443 ? '' : `:${port}`}${req.url}`;
  res.writeHead(308, { location, 'content-length': 0, 'x-request-id': id, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
  res.end();
}

/**
 * Whole-request deadline for an HTTP/2 stream (`limits.request_timeout_ms`, read from the server so reloads apply):
 * a client that has not finished sending its body by then gets a 408 problem and the stream is closed, so a
 * trickled HTTP/2 body cannot hold a request open (slowloris over HTTP/2).
 */
function guardHttp2Request(req: Http2ServerRequest, res: Http2ServerResponse, timeoutMs: number): void {
  const stream = req.stream;
  if (!(timeoutMs > 0) || stream.endAfterHeaders) return;
  const timer = setTimeout(() => {
    if (req.complete || stream.destroyed) return;
    if (res.headersSent) {
      stream.close(http2constants.NGHTTP2_CANCEL);
      return;
    }
    writeProblem(res, 'request_timeout', randomUUID(), () => stream.close(http2constants.NGHTTP2_CANCEL));
  }, timeoutMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  stream.once('close', clear);
  req.once('end', clear);
}

function writeProblem(res: ServerResponse | Http2ServerResponse, code: ErrorCode, requestId: string, done?: () => void): void {
  const { status, headers, body } = problemResponse(code, requestId);
  const out = res as ServerResponse; // both response classes share writeHead/end; the union's overloads are not callable
  out.writeHead(status, headers);
  out.end(body, done);
}

/**
 * How often Node checks connections against `headers_timeout_ms`/`request_timeout_ms`, in ms. Node's default
 * (30 s) would let a slowloris client hold a connection far past the configured timeout; a quarter of the shorter
 * timeout, clamped to 25–1000 ms, cuts it off close to the deadline. Fixed at start (a reload keeps it).
 */
export function checkingIntervalMs(limits: LimitsConfig): number {
  const shortest = Math.min(limits.headers_timeout_ms, limits.request_timeout_ms);
  return Math.max(25, Math.min(1000, Math.floor(shortest / 4)));
}

function applyLimits(server: AnyServer, limits: LimitsConfig): void {
  const s = server as HttpServer;
  s.headersTimeout = limits.headers_timeout_ms;
  s.requestTimeout = limits.request_timeout_ms;
  s.keepAliveTimeout = limits.keep_alive_timeout_ms;
  s.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, limits.max_url_length));
}

/** Updates limits that can change on reload (header size and ports need a restart). */
export function updateLimits(server: AnyServer, limits: LimitsConfig): void {
  const s = server as HttpServer;
  if (resetLimits.has(server)) resetLimits.set(server, limits.http2_max_resets);
  s.headersTimeout = limits.headers_timeout_ms;
  s.requestTimeout = limits.request_timeout_ms;
  s.keepAliveTimeout = limits.keep_alive_timeout_ms;
}

/**
 * Whether the header overflow is the request line itself: Node's parser counts the target into `maxHeaderSize`, so
 * a 20 KB URL overflows there before the gateway ever sees it, and deserves 414, not 431.
 */
function requestLineTooLong(packet: Buffer | undefined, maxUrlLength: number): boolean {
  if (!packet) return false;
  const end = packet.indexOf(10);
  // Method, two spaces and the version add a few bytes to the target: allow for them.
  return end === -1 ? packet.length > maxUrlLength : end > maxUrlLength + 24;
}

/** Parser errors and slow clients (before a request object exists): answered as problem+json, then closed. */
function answerClientError(error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex, maxUrlLength: number): void {
  // TLS failures (handshake timeout, bad handshake) come here too on the HTTP/2 server: there is no channel to
  // answer on, so the socket is simply closed.
  const tlsFailure = error.code?.startsWith('ERR_TLS') === true || error.code?.startsWith('ERR_SSL') === true || 'library' in error;
  if (!socket.writable || error.code === 'ECONNRESET' || tlsFailure) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? requestLineTooLong(error.rawPacket, maxUrlLength)
        ? 'uri_too_long'
        : 'headers_too_large'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'request_timeout'
        : error.code === 'HPE_URI_TOO_LONG'
          ? 'uri_too_long'
          : 'bad_request';
  socket.end(rawProblem(code, randomUUID()));
  // A client that never reads its answer must not keep the socket open.
  setTimeout(() => socket.destroy(), 1000).unref();
}
