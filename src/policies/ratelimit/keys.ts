import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { parse } from '@marcbachmann/cel-js';
import type { RequestContext } from '../../pipeline/types.ts';

/** Extracts the value a limit counts by. Never returns a raw secret: header and CEL values are hashed. */
export type KeyExtractor = (ctx: RequestContext) => string;

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** Default IPv6 prefix length by which clients are aggregated for per-IP counters (`counters.ipv6_prefix`). */
export const DEFAULT_IPV6_PREFIX = 64;

/**
 * The network a client IP is counted under: an IPv4 address as is, an IPv6 address reduced to its first
 * `ipv6Prefix` bits (default 64) and written as the canonical network address (`2001:db8:1:2::`), because one
 * subscriber usually holds a whole /64 and could otherwise take a fresh counter, and escape a lockout, with every
 * request. Parsing and formatting are the WHATWG URL host parser's; a value it rejects is returned unchanged.
 */
export function clientNetwork(ip: string, ipv6Prefix: number = DEFAULT_IPV6_PREFIX): string {
  if (!ip.includes(':') || ipv6Prefix >= 128) return ip;
  const address = ip.split('%', 1)[0]!;
  if (!isIPv6(address)) return ip;
  try {
    // The URL parser writes IPv6 in canonical form: lowercase hex, one `::` for the longest zero run, no IPv4 tail.
    const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
    const [head = '', tail] = canonical.split('::');
    const left = head === '' ? [] : head.split(':');
    const right = tail === undefined || tail === '' ? [] : tail.split(':');
    const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
      // IPv4-mapped: the client is an IPv4 host and counts as one.
      return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');
    }
    const masked = groups.map((g, i) => {
      const bits = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
      return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
    });
    return new URL(`http://[${masked.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/**
 * Compiles a limit's `key` setting into an extractor. `consumer` and `api_key` fall back to the client IP for
 * anonymous requests (so anonymous callers are still limited); IPv6 clients count per `ipv6Prefix` network. CEL expressions are parsed here, once; a CEL error
 * at request time throws (the stage then fails closed).
 */
export function compileKey(
  key: string,
  route: { readonly api: string; readonly operationId: string; readonly method: string; readonly template: string },
  ipv6Prefix: number = DEFAULT_IPV6_PREFIX,
): KeyExtractor {
  const ipKey: KeyExtractor = (ctx) => `ip:${clientNetwork(ctx.clientIp, ipv6Prefix)}`;
  if (key === 'ip') return ipKey;
  if (key === 'consumer') return (ctx) => {
    const id = ctx.identity;
    const who = id?.consumer ?? id?.subject;
    return who === undefined ? ipKey(ctx) : `c:${who}`;
  };
  if (key === 'api_key') return (ctx) => (ctx.identity?.keyId === undefined ? ipKey(ctx) : `k:${ctx.identity.keyId}`);
  if (key === 'route') {
    const value = `r:${route.method} ${route.template}`;
    return () => value;
  }
  if (key === 'operation') {
    const value = `o:${route.operationId}`;
    return () => value;
  }
  if (key.startsWith('header:')) {
    const name = key.slice('header:'.length).toLowerCase();
    return (ctx) => {
      const raw = ctx.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : raw;
      return value === undefined || value === '' ? ipKey(ctx) : `h:${digest(value)}`;
    };
  }
  if (key.startsWith('cel:')) {
    const expression = parse(key.slice('cel:'.length));
    return (ctx) => {
      const id = ctx.identity;
      const value = expression({
        request: { ip: ctx.clientIp, method: ctx.method, path: ctx.path, params: ctx.params, headers: ctx.headers },
        identity: id ? { subject: id.subject, consumer: id.consumer ?? '', tenant: id.tenant ?? '', roles: id.roles, scopes: id.scopes, claims: id.claims } : null,
      });
      return `x:${digest(String(value))}`;
    };
  }
  throw new Error(`unknown key "${key}"`);
}
