import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../problem.ts';
import { setsGatewayCookie, withoutGatewayCookies } from '../http/gateway-cookies.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus ones HTTP/2 forbids; never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Request headers a client must never be able to set upstream: method overrides (they bypass the route's method
 * checks), URL overrides some frameworks honour (`X-Original-URL`/`X-Rewrite-URL` route to a path the gateway never
 * checked), client-IP headers upstreams are known to trust, the forwarding headers Rampart sets itself, and
 * `Expect` (the gateway answers `100 Continue` itself; the upstream client library refuses the header).
 */
const CLIENT_FORBIDDEN = new Set([
  'host',
  'expect',
  'x-original-url',
  'x-rewrite-url',
  'x-override-url',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-client-ip',
  'x-cluster-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'x-request-id',
]);

/** Prefix of the identity headers Rampart sets upstream; client-supplied copies are dropped. */
export const IDENTITY_HEADER_PREFIX = 'x-rampart-';

export interface ForwardInfo {
  readonly requestId: string;
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
  readonly host: string | undefined;
  /** The X-Forwarded-For chain received, kept only when the peer is a trusted proxy. */
  readonly priorForwardedFor: string | undefined;
  /** The socket peer (the trusted proxy) appended to a kept chain; defaults to `clientIp`. */
  readonly peerIp?: string;
  /** The gateway's trace context (tracing on): the client's `traceparent`/`tracestate` are replaced by it. */
  readonly trace?: Record<string, string>;
}

/** Builds the upstream request headers: filtered client headers (less `strip`) plus Rampart's forwarding headers and `extra`. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  info: ForwardInfo,
  extra?: Record<string, string>,
  strip?: ReadonlySet<string>,
): Record<string, string | string[]> {
  const connectionListed = listedInConnection(incoming['connection']);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ':' pseudo-header */) continue;
    // CGI-style upstreams (PHP, WSGI, Rack) read `x_api_key` as the same variable as `x-api-key`: judge the twin.
    const as = name.includes('_') ? name.replaceAll('_', '-') : name;
    if (HOP_BY_HOP.has(as) || CLIENT_FORBIDDEN.has(as) || as.startsWith(IDENTITY_HEADER_PREFIX)) continue;
    if (connectionListed?.has(as) || strip?.has(as)) continue;
    if (info.trace !== undefined && (as === 'traceparent' || as === 'tracestate')) continue;
    if (as === 'cookie') {
      const kept = withoutGatewayCookies(value);
      if (kept !== undefined) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  out['x-forwarded-for'] = info.priorForwardedFor ? `${info.priorForwardedFor}, ${info.peerIp ?? info.clientIp}` : info.clientIp;
  out['x-forwarded-proto'] = info.proto;
  if (info.host) out['x-forwarded-host'] = info.host;
  out['x-request-id'] = info.requestId;
  if (info.trace !== undefined) Object.assign(out, info.trace);
  if (extra) Object.assign(out, extra);
  return out;
}

/**
 * Filters upstream response headers: hop-by-hop, banners and anything the policy removes. Returns a fresh object
 * the response stage may modify.
 */
export function downstreamResponseHeaders(
  incoming: Record<string, string | string[] | undefined>,
  remove: ReadonlySet<string>,
): Record<string, string | string[]> {
  const connectionListed = listedInConnection(incoming['connection']);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || remove.has(lower) || connectionListed?.has(lower)) continue;
    if (lower === 'set-cookie') {
      const kept = (Array.isArray(value) ? value : [value]).filter((v) => !setsGatewayCookie(v));
      if (kept.length > 0) out[lower] = kept;
      continue;
    }
    out[lower] = Array.isArray(value) ? repeated(lower, value) : value;
  }
  return out;
}

/**
 * Fields that carry one value (Node's HTTP/2 list, from RFC 9110; its HTTP/2 layer throws on a repeated one). A repeat with the
 * same value is one value; different values are an answer the gateway cannot pass on faithfully (which
 * Content-Type or Location would the client act on?), so it is refused as an invalid upstream response.
 */
const SINGLE_VALUE = new Set([
  'age', 'authorization', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from',
  'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** Repeatable fields whose repeats mean one comma-separated list (RFC 9110 §5.3), which HTTP/2 sends as one field. */
const LIST_VALUE = new Set(['content-encoding', 'content-language']);

function repeated(name: string, values: string[]): string | string[] {
  if (LIST_VALUE.has(name)) return values.join(', ');
  if (!SINGLE_VALUE.has(name)) return values;
  const first = values[0] ?? '';
  if (values.some((v) => v !== first)) throw new GatewayError('upstream_invalid_response', `upstream sent ${values.length} different ${name} values`);
  return first;
}

function listedInConnection(header: string | string[] | undefined): Set<string> | undefined {
  // The usual values name no other header: skip the split (it ran twice per proxied request).
  if (header === undefined || header === 'keep-alive' || header === 'close' || header === 'Keep-Alive' || header === 'Close') return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  const names = value.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '' && h !== 'close' && h !== 'keep-alive');
  return names.length > 0 ? new Set(names) : undefined;
}
