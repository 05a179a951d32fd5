import type { UpstreamTlsMaterial } from '../upstream-tls.ts';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { GatewayError } from '../../problem.ts';
import type { RouteWebSocket } from '../../pipeline/types.ts';

/** Close codes (RFC 6455 §7.4.1 and the IANA registry). */
export const CLOSE = { normal: 1000, goingAway: 1001, policy: 1008, tooBig: 1009, internal: 1011, badGateway: 1014 } as const;

/** Bytes queued towards one side past which the other side is paused (back-pressure, not an unbounded buffer). */
const HIGH_WATER = 4 * 1024 * 1024;

export interface UpstreamSocketOptions {
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly protocols: readonly string[];
  readonly maxMessageBytes: number;
  readonly handshakeTimeoutMs: number;
  /** TLS material for a wss:// upstream (verification is never relaxed). */
  readonly tls?: UpstreamTlsMaterial;
}

/**
 * Opens the upstream side first, so the client only gets its 101 once the upstream accepted. Resolves with the open
 * socket; rejects with a GatewayError (503 when the upstream cannot be reached, 502 when it answers anything but
 * an upgrade).
 */
export function connectUpstream(options: UpstreamSocketOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, [...options.protocols], {
      headers: options.headers as Record<string, string>,
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes,
      handshakeTimeout: options.handshakeTimeoutMs,
      followRedirects: false,
      ...options.tls,
      rejectUnauthorized: true,
    });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      socket.terminate();
      reject(new GatewayError('upstream_invalid_response', `upstream answered the upgrade with ${res.statusCode}`));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.terminate();
      const code = error.code ?? error.message;
      reject(new GatewayError(/timed? ?out/i.test(code) ? 'upstream_timeout' : 'upstream_unavailable', `upstream WebSocket failed (${code})`, { cause: error }));
    });
  });
}

/** One relayed connection: what it ends with, for the record. */
export interface SessionEnd {
  readonly code: number;
  readonly reason: string;
  readonly messagesIn: number;
  readonly messagesOut: number;
}

export interface SessionHooks {
  /** Checks the credential again; a reason when it no longer holds (expired, revoked, suspended). */
  recheck(): Promise<string | undefined>;
  onEnd(end: SessionEnd): void;
}

/**
 * A relayed WebSocket: every message passes the size bound (both sides' parsers refuse a larger one: 1009), the
 * client's message-rate bucket (1008 past the burst), and resets the idle timer (1000 when it fires). The
 * credential is checked again every `recheckMs` (1008 when it stopped holding). Either side closing closes the
 * other with its code; an abnormal end of the upstream is 1014 to the client.
 */
export class WebSocketSession {
  readonly client: WebSocket;
  readonly upstream: WebSocket;
  readonly #limits: RouteWebSocket;
  readonly #hooks: SessionHooks;
  #tokens: number;
  #refilledAt = Date.now();
  #idle: NodeJS.Timeout | undefined;
  #recheck: NodeJS.Timeout | undefined;
  #closed = false;
  #messagesIn = 0;
  #messagesOut = 0;
  #end: { code: number; reason: string } | undefined;

  constructor(client: WebSocket, upstream: WebSocket, limits: RouteWebSocket, hooks: SessionHooks) {
    this.client = client;
    this.upstream = upstream;
    this.#limits = limits;
    this.#hooks = hooks;
    this.#tokens = limits.burst;
    client.on('message', (data, isBinary) => this.#fromClient(data, isBinary));
    // Pings are answered by the library, not relayed; they still cost a frame each, so they draw on the same bucket.
    client.on('ping', () => {
      if (!this.#closed && !this.#allow()) this.end(CLOSE.policy, 'message rate limit');
    });
    upstream.on('message', (data, isBinary) => this.#fromUpstream(data, isBinary));
    // The side that closed is closed already (end() leaves it be); the other gets its code.
    client.on('close', (code, reason) => this.end(code === 1005 || code === 1006 ? CLOSE.goingAway : code, reason.toString('utf8') || 'client closed'));
    upstream.on('close', (code, reason) => this.end(code === 1005 ? CLOSE.normal : code === 1006 ? CLOSE.badGateway : code, reason.toString('utf8') || 'upstream closed'));
    client.on('error', (error: Error & { code?: string }) => this.end(error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? CLOSE.tooBig : CLOSE.policy, 'client protocol error'));
    upstream.on('error', (error: Error & { code?: string }) => this.end(error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? CLOSE.tooBig : CLOSE.badGateway, 'upstream error'));
    this.#touch();
    this.#scheduleRecheck();
  }

  #touch(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.end(CLOSE.normal, 'idle timeout'), this.#limits.idleTimeoutMs);
    this.#idle.unref();
  }

  #scheduleRecheck(): void {
    this.#recheck = setTimeout(() => {
      void this.#hooks.recheck().then(
        (reason) => (reason === undefined ? this.#closed || this.#scheduleRecheck() : this.end(CLOSE.policy, reason)),
        () => this.end(CLOSE.policy, 'credential check failed'),
      );
    }, this.#limits.recheckMs);
    this.#recheck.unref();
  }

  #allow(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.#limits.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#limits.messagesPerSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #fromClient(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    if (!this.#allow()) return this.end(CLOSE.policy, 'message rate limit');
    this.#messagesIn++;
    this.#touch();
    relay(this.client, this.upstream, data, isBinary);
  }

  #fromUpstream(data: RawData, isBinary: boolean): void {
    if (this.#closed) return;
    this.#messagesOut++;
    this.#touch();
    relay(this.upstream, this.client, data, isBinary);
  }

  /** Closes both sides with `code` and `reason` (shutdown, limits, revocation). */
  end(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#end = { code, reason };
    this.#stopTimers();
    for (const side of [this.client, this.upstream]) closeOrTerminate(side, code, reason);
    this.#finish();
  }

  #stopTimers(): void {
    clearTimeout(this.#idle);
    clearTimeout(this.#recheck);
  }

  #finish(): void {
    // A peer that never answers the close handshake must not hold the socket.
    const cut = setTimeout(() => {
      this.client.terminate();
      this.upstream.terminate();
    }, 2000);
    cut.unref();
    this.#hooks.onEnd({ code: this.#end!.code, reason: this.#end!.reason, messagesIn: this.#messagesIn, messagesOut: this.#messagesOut });
  }
}

/** Sends a message on, pausing its source while the destination has too much queued. */
function relay(source: WebSocket, destination: WebSocket, data: RawData, isBinary: boolean): void {
  if (destination.readyState !== WebSocket.OPEN) return;
  destination.send(data, { binary: isBinary }, () => {
    if (source.isPaused && destination.bufferedAmount < HIGH_WATER / 2) source.resume();
  });
  if (destination.bufferedAmount > HIGH_WATER) source.pause();
}

function closeOrTerminate(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.CLOSED) return;
  try {
    // A reason is at most 123 bytes (RFC 6455 §5.5): the close frame's payload is 125.
    socket.close(validCode(code), Buffer.from(reason).subarray(0, 123).toString('utf8'));
  } catch {
    socket.terminate();
  }
}

/** Codes an endpoint may send (1005, 1006 and 1015 are for reporting only). */
function validCode(code: number): number {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999) ? code : CLOSE.normal;
}

/** Accepts the client's upgrade with the subprotocol the upstream chose (none when it chose none). */
export function acceptClient(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string, maxMessageBytes: number): Promise<WebSocket> {
  const server = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: maxMessageBytes,
    clientTracking: false,
    handleProtocols: (offered) => (protocol !== '' && offered.has(protocol) ? protocol : false),
  });
  return new Promise((resolve, reject) => {
    // `ws` answers a handshake it refuses itself and never calls back: hear about it, never hang.
    server.once('wsClientError', (error: Error) => reject(new GatewayError('bad_request', `WebSocket handshake refused (${error.message})`)));
    server.handleUpgrade(req, socket, head, (client) => resolve(client));
  });
}
