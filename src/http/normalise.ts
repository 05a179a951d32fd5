import { randomUUID } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { GatewayError } from '../problem.ts';
import { inList } from './cidr.ts';

type ServerRequest = IncomingMessage | Http2ServerRequest;

/** Characters allowed raw in a path (RFC 3986 pchar plus `/`); anything else (space, `\`, NUL, non-ASCII) is refused. */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
/** Characters allowed raw in a query (pchar plus `/?`). */
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const PERCENT = /%(?![0-9A-Fa-f]{2})/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export interface Target {
  /** Validated path, still percent-encoded as received. */
  readonly path: string;
  /** Query without `?`, as received. */
  readonly rawQuery: string;
}

/**
 * Validates a request target (stage 2). Rejects what path-confusion attacks rely on, rather than resolving it,
 * so the gateway and the upstream can never disagree about which resource is meant:
 * encoded dots and slashes (`%2e`, `%2f`, `%5c`), double encoding (`%25`), NUL and control bytes, invalid or
 * overlong UTF-8, dot segments, empty segments, and anything but origin-form targets. Throws 414 or 400.
 */
export function parseTarget(url: string, maxLength: number): Target {
  if (url.length > maxLength) throw new GatewayError('uri_too_long', `target of ${url.length} bytes over ${maxLength}`);
  if (url.charCodeAt(0) !== 47) throw new GatewayError('invalid_path', 'target is not in origin form');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  checkPath(path);
  if (rawQuery !== '') checkQuery(rawQuery);
  return { path, rawQuery };
}

function checkPath(path: string): void {
  if (!PATH_CHARS.test(path)) throw new GatewayError('invalid_path', 'path has characters outside RFC 3986');
  if (path.includes('%')) {
    if (PERCENT.test(path)) throw new GatewayError('invalid_path', 'malformed percent-encoding');
    // Encoded '.', '/', '\', '%' (double encoding) and control bytes never appear in a legitimate API path.
    if (/%(2[eEfF5]|5[cC]|[01][0-9A-Fa-f]|7[fF])/.test(path)) throw new GatewayError('invalid_path', 'encoded separator, dot, percent or control byte');
    try {
      decodeURIComponent(path);
    } catch (error) {
      throw new GatewayError('invalid_path', 'invalid UTF-8 in path', { cause: error });
    }
  }
  if (path.length > 1) {
    const segments = path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '.' || segment === '..') throw new GatewayError('invalid_path', 'dot segment in path');
      if (segment === '' && i !== segments.length - 1) throw new GatewayError('invalid_path', 'empty path segment');
    }
  }
}

function checkQuery(query: string): void {
  if (!QUERY_CHARS.test(query)) throw new GatewayError('bad_request', 'query has characters outside RFC 3986');
  if (PERCENT.test(query)) throw new GatewayError('bad_request', 'malformed percent-encoding in query');
  if (/%00/.test(query)) throw new GatewayError('bad_request', 'NUL byte in query');
}

/** Accepts a well-formed incoming `X-Request-Id` (8–128 of `[A-Za-z0-9._:-]`), else generates a UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/** `::ffff:10.0.0.1` → `10.0.0.1`. */
export function normaliseIp(address: string | undefined): string {
  if (!address) return '0.0.0.0';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The client's IP: the socket peer, unless the peer is a trusted proxy, in which case X-Forwarded-For is walked
 * from the right past trusted proxies. A client-supplied X-Forwarded-For is never believed on its own.
 */
export function clientIpOf(req: ServerRequest, trusted: BlockList | undefined): string {
  const peer = normaliseIp(req.socket?.remoteAddress);
  if (!trusted || !isTrusted(trusted, peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const chain = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = normaliseIp(chain[i]!.trim());
    if (hop === '' || hop === '0.0.0.0') continue;
    if (!isTrusted(trusted, hop)) return isPlausibleIp(hop) ? hop : peer;
  }
  return peer;
}

/** Whether `ip` is inside the trusted-proxy list. */
export function isTrusted(list: BlockList, ip: string): boolean {
  return inList(list, ip);
}

function isPlausibleIp(value: string): boolean {
  return /^[0-9a-fA-F:.]{2,45}$/.test(value);
}
