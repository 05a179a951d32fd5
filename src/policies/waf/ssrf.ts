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
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['64:ff9b::', 96], ['ff00::', 8]] as const) INTERNAL.addSubnet(net, prefix, 'ipv6');

/** Schemes that make a fetcher speak another protocol or read local files. */
const SCHEMES = new Set(['file', 'gopher', 'dict', 'ldap', 'ldaps', 'jar', 'netdoc', 'tftp', 'expect', 'phar', 'php', 'smb', 'glob', 'zip', 'ogg', 'rmi', 'jndi', 'iiop', 'sftp', 'telnet']);
/** Schemes dangerous even without `//` (`jar:http://…`, `netdoc:/etc/passwd`); not words people write before a colon. */
const BARE_SCHEMES = new Set(['jar', 'netdoc', 'gopher', 'dict', 'ldap', 'ldaps', 'expect', 'phar', 'jndi', 'rmi', 'iiop', 'tftp']);
const METADATA = ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254', 'metadata.google.internal', '169.254.170.2', 'metadata.azure.com'];
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'metadata.azure.com']);
/** Public DNS names that resolve to loopback or to the address they spell. */
const REBINDING = ['.nip.io', '.sslip.io', '.xip.io', 'localtest.me', '.lvh.me', 'lvh.me', '.vcap.me', '.traefik.me', '.localhost', '1u.ms'];
/** Out-of-band interaction services used to confirm blind injection. */
const OAST = ['burpcollaborator.net', 'oastify.com', '.oast.me', '.oast.pro', '.oast.live', '.oast.site', '.oast.online', '.oast.fun', 'interact.sh', 'interactsh.com', 'dnslog.cn', 'ceye.io', 'requestbin.net', 'canarytokens.com', 'pipedream.net', 'webhook.site'];

export const detectSsrf: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  for (const needle of METADATA) if (t.includes(needle)) return hit('ssrf-metadata');
  for (const needle of OAST) if (t.includes(needle)) return hit('ssrf-oast-host');
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
  let url: URL;
  try {
    url = new URL(schemeless ? `http:${candidate}` : candidate);
  } catch {
    return undefined;
  }
  // Non-special schemes (`foo://`) keep the host as written; read it the way an HTTP client would.
  let host = url.hostname;
  if (!['http:', 'https:', 'ftp:', 'ws:', 'wss:', 'file:'].includes(url.protocol) && host !== '') {
    try {
      host = new URL(`http://${host}/`).hostname;
    } catch {
      return undefined;
    }
  }
  return judgeHost(host.startsWith('[') ? host.slice(1, -1) : host, paranoia);
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
  if (paranoia >= 2 && (name.endsWith('.internal') || name.endsWith('.local') || name.endsWith('.lan') || name.endsWith('.corp') || name.endsWith('.intranet') || !name.includes('.'))) {
    return hit('ssrf-internal-name');
  }
  return undefined;
}
