import { needleGroup } from './needles.ts';
import { BlockList, isIP } from 'node:net';
import { isLetterCode, isWordCode, someOccurrence, wordStart } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * Server-side request forgery and remote file inclusion targets in URL-like values. Each `scheme://` (or `:\\`,
 * or a leading `//`) starts a candidate that ends at whitespace, a quote, angle bracket or the next candidate, so
 * candidates never overlap; each is read by the platform's WHATWG URL parser, which already turns decimal
 * (`2130706433`), octal (`0177.0.0.1`), hex (`0x7f000001`) and short (`127.1`) IPv4 hosts into dotted form, and
 * its host is checked against a `net.BlockList` of loopback, private, link-local, CGNAT, unspecified and
 * IPv4-mapped ranges, the cloud metadata hosts, DNS names that resolve to loopback, and out-of-band testing domains.
 * Schemes that reach other protocols (`gopher:`, `dict:`, `file:`, `jar:`, `netdoc:`, `ldap:` …) are refused too.
 * At paranoia 1 an internal host counts only in a URL-like value (one that starts with the URL): a fetcher takes a
 * URL field, and prose or a pasted shell command that mentions `http://127.0.0.1:8080/health` is not one.
 */

const hit = (rule: string): Hit => ({ family: 'ssrf', rule });

const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) INTERNAL.addSubnet(net, prefix, 'ipv4');
// `::/96` holds `::` and `::1` and the deprecated IPv4-compatible form (`[::127.0.0.1]`); `::ffff:0:0:0/96` the
// SIIT-translated one (`[::ffff:0:7f00:1]`); 6to4 addresses (`2002::/16`) embed an IPv4 address: the ones embedding an
// internal range are internal (`2002:7f00:1::`).
for (const [net, prefix] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['ff00::', 8],
  ['2002::', 24], ['2002:a00::', 24], ['2002:7f00::', 24], ['2002:a9fe::', 32], ['2002:ac10::', 28], ['2002:c0a8::', 32], ['2002:6440::', 26],
] as const) INTERNAL.addSubnet(net, prefix, 'ipv6');

/** Schemes that make a fetcher speak another protocol or read local files. */
const SCHEMES = new Set(['file', 'gopher', 'dict', 'ldap', 'ldaps', 'jar', 'netdoc', 'tftp', 'expect', 'phar', 'php', 'smb', 'glob', 'zip', 'ogg', 'rmi', 'jndi', 'iiop', 'sftp', 'telnet']);
/** Schemes dangerous even without `//` (`jar:http://…`, `netdoc:/etc/passwd`); not words people write before a colon. */
const BARE_SCHEMES = new Set(['jar', 'netdoc', 'gopher', 'dict', 'ldap', 'ldaps', 'expect', 'phar', 'jndi', 'rmi', 'iiop', 'tftp']);
const METADATA = ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254', 'metadata.google.internal', '169.254.170.2', 'metadata.azure.com'];
const METADATA_GROUP = needleGroup(METADATA);
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'metadata.azure.com']);
/** Public DNS names that resolve to loopback or to the address they spell. */
const REBINDING = ['.nip.io', '.sslip.io', '.xip.io', 'localtest.me', '.lvh.me', 'lvh.me', '.vcap.me', '.traefik.me', '.localhost', '1u.ms'];
/** Cluster-internal DNS names (Kubernetes service discovery): never a public host. */
const CLUSTER = ['.cluster.local', '.svc', '.kubernetes.default'];
/** Schemes the WHATWG parser reads with or without `//` (`http:127.0.0.1/` is `http://127.0.0.1/`). */
const SPECIAL = new Set(['http', 'https', 'ws', 'wss', 'ftp']);
/** Out-of-band interaction services used to confirm blind injection. */
const OAST = ['burpcollaborator.net', 'oastify.com', '.oast.me', '.oast.pro', '.oast.live', '.oast.site', '.oast.online', '.oast.fun', 'interact.sh', 'interactsh.com', 'dnslog.cn', 'ceye.io', 'requestbin.net', 'canarytokens.com', 'pipedream.net', 'webhook.site'];
const OAST_GROUP = needleGroup(OAST);

export const detectSsrf: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  if (probe.groups & METADATA_GROUP) return hit('ssrf-metadata');
  if (probe.groups & OAST_GROUP) return hit('ssrf-oast-host');
  let found: Hit | undefined;
  let lastEnd = 0;
  let valueStart = 0;
  while (valueStart < t.length && t.charCodeAt(valueStart) <= 32) valueStart++;
  const check = (start: number, schemeEnd: number): boolean => {
    const end = candidateEnd(t, schemeEnd);
    lastEnd = end;
    found = judge(t.slice(start, Math.min(end, start + 2048)), start === valueStart ? paranoia : paranoia - 1, start === schemeEnd);
    return found !== undefined;
  };
  if ((t.startsWith('//') || t.startsWith('\\\\')) && check(0, 0)) return found;
  someOccurrence(
    t,
    ':',
    (at) => {
      if (at < lastEnd) return false;
      const a = t[at + 1];
      const b = t[at + 2];
      const slashes = (a === '/' || a === '\\') && (b === '/' || b === '\\');
      let s = at;
      while (s > 0 && at - s < 16 && (isLetterCode(t.charCodeAt(s - 1)) || (s < at && isWordCode(t.charCodeAt(s - 1))) || t[s - 1] === '+' || t[s - 1] === '.' || t[s - 1] === '-')) s--;
      const scheme = t.slice(s, at);
      if (scheme === '' || !isLetterCode(t.charCodeAt(s))) return false;
      if (!slashes && SPECIAL.has(scheme) && s === valueStart && a !== undefined && a !== ' ') {
        // `http:127.0.0.1/`, `http:/127.0.0.1/`: a URL-like value a WHATWG fetcher reads as `http://127.0.0.1/`.
        return check(s, at);
      }
      if (!slashes) {
        // `jar:http://…`, `netdoc:/etc/passwd`, `file:/etc/passwd`; "file: attached" is prose.
        if (!SCHEMES.has(scheme) || !wordStart(t, s)) return false;
        const word = BARE_SCHEMES.has(scheme) && a !== ' ' && a !== undefined;
        // A `file:/path` inside other text is a configuration snippet more often than a URL (paranoia 2 counts it).
        const path = a === '/' && (scheme !== 'file' || s === valueStart || paranoia >= 2);
        if (path || word || (paranoia >= 2 && a !== ' ' && a !== undefined)) return (found = hit('ssrf-scheme')), true;
        return false;
      }
      return check(s, at);
    },
    Number.MAX_SAFE_INTEGER,
  );
  return found;
};

/** Where a URL candidate starting at `from` ends: whitespace, quote, `<`, `>`, backtick, or the start of the next `://`. */
function candidateEnd(t: string, from: number): number {
  for (let i = from + 3; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 39 || c === 60 || c === 62 || c === 96) return i;
    if (c === 58 && t.charCodeAt(i + 1) === 47 && t.charCodeAt(i + 2) === 47) {
      let s = i;
      while (s > from && isLetterCode(t.charCodeAt(s - 1))) s--;
      return s;
    }
  }
  return t.length;
}

/** Verdict on one URL candidate. */
function judge(candidate: string, paranoia: number, schemeless: boolean): Hit | undefined {
  const colon = candidate.indexOf(':');
  const scheme = schemeless ? 'http' : candidate.slice(0, colon);
  if (SCHEMES.has(scheme)) return hit('ssrf-scheme');
  // The authority as a naive parser reads it: after the slashes, up to the next slash.
  let from = schemeless ? 0 : colon + 1;
  while (from < candidate.length && (candidate[from] === '/' || candidate[from] === '\\')) from++;
  let to = from;
  while (to < candidate.length && candidate[to] !== '/' && candidate[to] !== '\\') to++;
  const authority = candidate.slice(from, to);
  // `http://` with no host: nothing to connect to (and the parser would throw, which is slow when repeated).
  if (SPECIAL.has(scheme) && (authority === '' || authority[0] === '?' || authority[0] === '#')) return undefined;
  if (SPECIAL.has(scheme) && !authority.includes('@')) {
    // Fast path, no URL parser: a plain DNS name (`a-z0-9.-`, a last label that is not a number) is its own host.
    const simple = plainName(authority);
    if (simple !== undefined) return judgeHost(simple, paranoia);
  }
  // URL.parse, not `new URL`: a value of many malformed URLs would otherwise cost an exception each.
  const url = URL.parse(schemeless ? `http:${candidate}` : candidate);
  if (url === null) {
    // `[fe80::1%25eth0]`: the WHATWG parser refuses zone identifiers that other clients accept.
    const zone = candidate.indexOf('%');
    const close = candidate.indexOf(']');
    if (candidate.includes('[') && zone !== -1 && close > zone) return judge(candidate.slice(0, zone) + candidate.slice(close), paranoia, schemeless);
    return undefined;
  }
  // `http://evil.example#@127.0.0.1/`, `http://a?@10.0.0.1/`: parsers that ignore `?`/`#` before the `@` connect to
  // the host after it.
  const at = authority.lastIndexOf('@');
  if (at !== -1 && (authority.includes('#') || authority.includes('?'))) {
    const other = judge(`http://${authority.slice(at + 1)}/`, paranoia, false);
    if (other) return other;
  }
  // Non-special schemes (`foo://`) keep the host as written; read it the way an HTTP client would.
  let host = url.hostname;
  if (!['http:', 'https:', 'ftp:', 'ws:', 'wss:', 'file:'].includes(url.protocol) && host !== '') {
    const reparsed = URL.parse(`http://${host}/`);
    if (reparsed === null) return undefined;
    host = reparsed.hostname;
  }
  return judgeHost(host.startsWith('[') ? host.slice(1, -1) : host, paranoia);
}

/**
 * The host of `authority` when it is a plain lower-case DNS name with an optional port (what the WHATWG parser
 * would return unchanged), else undefined (IP literals in any notation, userinfo, escapes, non-ASCII: parse it).
 */
function plainName(authority: string): string | undefined {
  let end = authority.length;
  for (let i = 0; i < authority.length; i++) {
    const c = authority.charCodeAt(i);
    if (c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  let host = authority.slice(0, end);
  const port = host.indexOf(':');
  if (port !== -1) {
    for (let i = port + 1; i < host.length; i++) if (host.charCodeAt(i) < 48 || host.charCodeAt(i) > 57) return undefined;
    host = host.slice(0, port);
  }
  if (host === '') return undefined;
  let labelStart = 0;
  let last = '';
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 46;
    if (c === 46) {
      if (i > labelStart) last = host.slice(labelStart, i);
      labelStart = i + 1;
      continue;
    }
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return undefined;
  }
  // A numeric last label (`127.1`, `0x7f`, `017700000001`) makes the host an IPv4 address: the parser decides.
  if (last === '' || /^(?:[0-9]+|0x[0-9a-f]*)$/.test(last)) return undefined;
  return host;
}

/** `paranoia` 0 is a URL inside other text at paranoia 1: only the metadata hosts count there. */
function judgeHost(host: string, paranoia: number): Hit | undefined {
  if (host === '') return undefined;
  if (paranoia < 1) return METADATA_HOSTS.has(host) ? hit('ssrf-metadata') : undefined;
  const family = isIP(host);
  if (family !== 0) {
    if (INTERNAL.check(host, family === 4 ? 'ipv4' : 'ipv6')) return hit('ssrf-internal-address');
    return paranoia >= 3 ? hit('ssrf-ip-literal') : undefined;
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name === 'localhost' || name.endsWith('.localhost')) return hit('ssrf-internal-address');
  if (METADATA_HOSTS.has(name)) return hit('ssrf-metadata');
  for (const suffix of REBINDING) if (name.endsWith(suffix)) return hit('ssrf-rebinding-host');
  for (const suffix of CLUSTER) if (name.endsWith(suffix) || name === suffix.slice(1)) return hit('ssrf-internal-name');
  if (paranoia >= 2 && (name.endsWith('.internal') || name.endsWith('.local') || name.endsWith('.lan') || name.endsWith('.corp') || name.endsWith('.intranet') || !name.includes('.'))) {
    return hit('ssrf-internal-name');
  }
  return undefined;
}
