import { isIP } from 'node:net';
/**
 * Matches a request's `Host`/`:authority` against `listen.hosts`: exact names and `*.suffix` for one level of
 * subdomain, case-insensitive, port ignored. Built once per config.
 */
export interface HostMatcher {
  /** The authority (`name[:port]`, lower-cased) when it names a served host, else undefined. */
  match(authority: string | undefined): string | undefined;
}

const AUTHORITY = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]{1,253})(:[0-9]{1,5})?$/;

/** Whether a `Host`/`:authority` is a bare `name[:port]` (any case): nothing a URL could read as path, query or userinfo. */
export function isPlainAuthority(authority: string): boolean {
  return AUTHORITY.test(authority.toLowerCase());
}

/** Whether a host name (a URL's `hostname`, or a listener host) is this machine's loopback: `localhost`, 127/8, `::1`. */
export function isLoopbackHost(hostname: string): boolean {
  // 127/8 as an address only: `127.0.0.1.nip.io` is a DNS name that can point anywhere.
  return hostname === 'localhost' || hostname === '::1' || hostname === '[::1]' || (hostname.startsWith('127.') && isIP(hostname) === 4);
}

/** Builds the matcher; an empty list matches nothing (callers then use the listener address). */
export function createHostMatcher(hosts: readonly string[]): HostMatcher {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const host of hosts) {
    const lower = host.toLowerCase();
    if (lower.startsWith('*.')) suffixes.push(lower.slice(1));
    else exact.add(lower);
  }
  return {
    match(authority) {
      if (authority === undefined) return undefined;
      const lower = authority.toLowerCase();
      const parsed = AUTHORITY.exec(lower);
      if (!parsed) return undefined;
      const name = parsed[1]!;
      if (exact.has(name)) return lower;
      for (const suffix of suffixes) {
        if (name.endsWith(suffix) && name.length > suffix.length && !name.slice(0, -suffix.length).includes('.')) return lower;
      }
      return undefined;
    },
  };
}

/** `host:port` of the local end of a socket, IPv6 in brackets: what the client connected to. */
export function listenerAuthority(address: string | undefined, port: number | undefined): string | undefined {
  if (address === undefined || port === undefined) return undefined;
  const host = address.startsWith('::ffff:') ? address.slice(7) : address;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
