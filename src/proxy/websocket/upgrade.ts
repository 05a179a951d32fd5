import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../../problem.ts';
import type { CompiledRoute, RequestContext, UpstreamRequestSigner } from '../../pipeline/types.ts';
import type { UpstreamTlsMaterial } from '../upstream-tls.ts';
import type { Target } from '../balancer/balancer.ts';
import type { WebSocket } from 'ws';
import { acceptClient, CLOSE, connectUpstream, WebSocketSession, type SessionEnd } from './relay.ts';

/** Whether a request asks to become a WebSocket (RFC 6455 §4.2.1). */
export function isWebSocketUpgrade(headers: IncomingHttpHeaders): boolean {
  const upgrade = headers['upgrade'];
  const connection = headers['connection'];
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket' && typeof connection === 'string' && /(^|,)\s*upgrade\s*(,|$)/i.test(connection);
}

/**
 * The checks of an upgrade before any stage runs: the route takes upgrades, a browser's `Origin` is allowed
 * (cross-site WebSocket hijacking: a page on another site opening a socket with the user's cookies), and the API
 * has room for another connection.
 */
export function checkUpgrade(ctx: RequestContext, route: CompiledRoute, sessions: WebSocketSessions): void {
  const ws = route.websocket;
  if (ws === undefined || !isWebSocketUpgrade(ctx.headers)) throw new GatewayError('bad_request', 'this operation takes no WebSocket upgrade');
  // The handshake the client library would refuse after the upstream socket was opened: refused here, first.
  const key = ctx.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key.trim())) throw new GatewayError('bad_request', 'WebSocket upgrade without a valid Sec-WebSocket-Key');
  if (ctx.headers['sec-websocket-version'] !== '13') throw new GatewayError('bad_request', 'WebSocket upgrade of a version other than 13', { headers: { 'sec-websocket-version': '13' } });
  const protocols = ctx.headers['sec-websocket-protocol'];
  if (protocols !== undefined && (typeof protocols !== 'string' || !protocols.split(',').every((p) => SUBPROTOCOL.test(p.trim())))) {
    throw new GatewayError('bad_request', 'WebSocket upgrade with a malformed Sec-WebSocket-Protocol');
  }
  const origin = ctx.headers['origin'];
  if (origin !== undefined && (typeof origin !== 'string' || !ws.allowOrigins.has(origin.toLowerCase()))) {
    throw new GatewayError('cors_rejected', 'WebSocket upgrade from an origin not in websocket.allow_origins');
  }
  if (!sessions.reserve(route.api.name, ws.maxConnections)) throw new GatewayError('service_unavailable', 'websocket.max_connections reached', { headers: { 'retry-after': '1' } });
}

/** A nonce of 16 bytes in base64 (RFC 6455 §4.1). */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;
const SUBPROTOCOL = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

export interface RelayStart {
  readonly ctx: RequestContext;
  readonly route: CompiledRoute;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly target: Target;
  /** Path and query for the upstream (base path stripped). */
  readonly upstreamPath: string;
  /** Upstream request headers, already filtered (proxy/headers.ts) and without the client's WebSocket fields. */
  readonly headers: Record<string, string | string[]>;
  readonly tls: UpstreamTlsMaterial | undefined;
  readonly handshakeTimeoutMs: number;
  /** Before the 101: the socket stops being an HTTP response's. */
  readonly detach: () => void;
  readonly recheck: () => Promise<string | undefined>;
  readonly onEnd: (end: SessionEnd) => void;
}

/** Opens the upstream socket, then accepts the client's upgrade and relays between them. */
export async function startRelay(start: RelayStart, sessions: WebSocketSessions): Promise<void> {
  const { ctx, route } = start;
  const ws = route.websocket!;
  const base = start.target.url.replace(/^http/, 'ws').replace(/\/$/, '');
  const offered = String(ctx.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(p))
    .slice(0, 16);
  const url = base + start.upstreamPath;
  const upstream = await connectUpstream({
    url,
    headers: ctx.upstreamSigner ? signedHandshake(ctx.upstreamSigner, url, start.headers) : start.headers,
    protocols: offered,
    maxMessageBytes: ws.maxMessageBytes,
    handshakeTimeoutMs: start.handshakeTimeoutMs,
    ...(start.tls ? { tls: start.tls } : {}),
  });
  if (ctx.clientGone || start.socket.destroyed) {
    upstream.terminate();
    return;
  }
  start.detach();
  let client: WebSocket;
  try {
    client = await acceptClient(ctx.req as never, start.socket, start.head, upstream.protocol, ws.maxMessageBytes);
  } catch (error) {
    // The client's handshake failed after all: nothing relays, so nothing may stay open or unrecorded.
    upstream.terminate();
    start.socket.destroy();
    start.onEnd({ code: CLOSE.policy, reason: 'handshake failed', messagesIn: 0, messagesOut: 0 });
    throw error;
  }
  const session = new WebSocketSession(client, upstream, ws, {
    recheck: start.recheck,
    onEnd: (end) => {
      sessions.remove(route.api.name, session);
      start.onEnd(end);
    },
  });
  sessions.add(route.api.name, session);
}

/**
 * The upstream handshake's headers with the gateway's signature (`apis[].upstream_signing`), computed over the
 * request as `ws` sends it: GET, the URL's authority (its Host header), and the path and query it puts on the
 * request line (`pathname + search` of the parsed URL), with the final headers. The client's own
 * Signature/Signature-Input were left out already (the signing policy's strip list).
 */
function signedHandshake(signer: UpstreamRequestSigner, url: string, headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const sent = new URL(url);
  const scheme = sent.protocol === 'wss:' ? 'https' : 'http';
  return { ...headers, ...signer.sign({ method: 'GET', scheme, authority: sent.host, target: sent.pathname + sent.search, headers }) };
}

/** The open relayed connections of one gateway, by API: for `max_connections` and the graceful drain. */
export class WebSocketSessions {
  readonly #byApi = new Map<string, Set<WebSocketSession>>();
  /** Upgrades between their check and their session (or their failure), by API: they count against the limit. */
  readonly #pending = new Map<string, number>();
  #draining = false;

  count(api: string): number {
    return (this.#byApi.get(api)?.size ?? 0) + (this.#pending.get(api) ?? 0);
  }

  /** Takes a slot for an upgrade about to run its stages; false when the API has `max` connections already. */
  reserve(api: string, max: number): boolean {
    if (this.#draining || this.count(api) >= max) return false;
    this.#pending.set(api, (this.#pending.get(api) ?? 0) + 1);
    return true;
  }

  /** Gives back a reserved slot (the upgrade became a session, or failed). */
  release(api: string): void {
    const n = (this.#pending.get(api) ?? 0) - 1;
    if (n > 0) this.#pending.set(api, n);
    else this.#pending.delete(api);
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byApi.values()) n += set.size;
    return n;
  }

  add(api: string, session: WebSocketSession): void {
    // An upgrade that finished its handshake while the gateway drains is closed like the others.
    if (this.#draining) queueMicrotask(() => session.end(CLOSE.goingAway, 'server shutting down'));
    let set = this.#byApi.get(api);
    if (!set) this.#byApi.set(api, (set = new Set()));
    set.add(session);
  }

  remove(api: string, session: WebSocketSession): void {
    this.#byApi.get(api)?.delete(session);
  }

  /** Graceful drain: every connection gets a close frame (1001, "server shutting down"); what is left after `withinMs` is cut. */
  async drain(withinMs: number): Promise<void> {
    this.#draining = true;
    const all = [...this.#byApi.values()].flatMap((s) => [...s]);
    for (const session of all) session.end(CLOSE.goingAway, 'server shutting down');
    const deadline = Date.now() + withinMs;
    while (all.some((s) => s.client.readyState !== s.client.CLOSED || s.upstream.readyState !== s.upstream.CLOSED) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const session of all) {
      session.client.terminate();
      session.upstream.terminate();
    }
  }
}
