/**
 * API8 TLS, for an https:// target, with the target's own host:port (certificate not checked: only the
 * handshake matters): one handshake each with TLS 1.0 and TLS 1.1 (any cipher), and TLS 1.2 handshakes offering
 * only one family of weak suites each (static RSA key exchange, CBC mode, 3DES, RC4, NULL/anonymous/export). A
 * completed handshake is a finding. A family this Node/OpenSSL build cannot offer at all is not tested, and the
 * report says so (OpenSSL 3 keeps RC4 and single DES in its legacy provider, which Node does not load).
 */
import { connect, createSecureContext, type SecureVersion } from 'node:tls';
import { findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { SEVERITIES, type Severity } from '../types.ts';

/** How long one handshake may take, in milliseconds. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
const LEGACY = ['TLSv1', 'TLSv1.1'] as const;

/** Weak TLS 1.2 suite families, each an OpenSSL cipher string (security level 0, so the client may offer them). */
export const WEAK_CIPHER_FAMILIES: readonly { readonly label: string; readonly ciphers: string; readonly severity: Severity }[] = [
  { label: 'static RSA key exchange (no forward secrecy)', ciphers: 'kRSA:!aNULL:!eNULL@SECLEVEL=0', severity: 'low' },
  { label: 'CBC mode', ciphers: 'ECDHE:DHE:!AESGCM:!AESCCM:!CHACHA20:!ARIA:!aNULL:!eNULL:!3DES:!RC4:!DES@SECLEVEL=0', severity: 'low' },
  { label: '3DES', ciphers: '3DES@SECLEVEL=0', severity: 'medium' },
  { label: 'RC4', ciphers: 'RC4@SECLEVEL=0', severity: 'medium' },
  { label: 'NULL, anonymous, export or single DES', ciphers: 'eNULL:aNULL:EXPORT:DES:LOW@SECLEVEL=0', severity: 'medium' },
];

/** Whether this process's OpenSSL can offer any suite of the cipher string at TLS 1.2. */
export function canOffer(ciphers: string): boolean {
  try {
    createSecureContext({ ciphers, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    return true;
  } catch {
    return false;
  }
}

/** The protocol and cipher of a completed handshake at exactly `version` offering `ciphers`, or undefined. */
export function handshake(host: string, port: number, version: SecureVersion, ciphers = 'DEFAULT@SECLEVEL=0', timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<{ protocol: string; cipher: string } | undefined> {
  return new Promise((resolve) => {
    let socket: ReturnType<typeof connect>;
    try {
      socket = connect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, minVersion: version, maxVersion: version, ciphers, rejectUnauthorized: false, timeout: timeoutMs }, () => {
        const protocol = socket.getProtocol();
        resolve(protocol === version ? { protocol, cipher: socket.getCipher().name } : undefined);
        socket.destroy();
      });
    } catch {
      return resolve(undefined); // a cipher string this OpenSSL cannot offer
    }
    socket.on('timeout', () => {
      resolve(undefined);
      socket.destroy();
    });
    socket.on('error', () => resolve(undefined));
  });
}

/** Whether host:port completes a handshake at exactly `version`. Errors and timeouts are "no". */
export async function acceptsTlsVersion(host: string, port: number, version: (typeof LEGACY)[number], timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<boolean> {
  return (await handshake(host, port, version, 'DEFAULT@SECLEVEL=0', timeoutMs)) !== undefined;
}

export const tls: ProbeModule = {
  name: 'tls',
  plan(context) {
    if (context.target && context.target.protocol !== 'https:') return [];
    const out: PlannedProbe[] = LEGACY.map((version) => ({ rule: 'api8.legacy-tls', endpoint: `TLS ${version}`, description: `a ${version} handshake (https:// targets only)`, destructive: false, maxRequests: 1 }));
    for (const family of WEAK_CIPHER_FAMILIES) out.push({ rule: 'api8.weak-tls-ciphers', endpoint: `TLS 1.2 ${family.label}`, description: `a TLS 1.2 handshake offering only ${family.label} suites (https:// targets only)`, destructive: false, maxRequests: 1 });
    return out;
  },
  async run(session, planned, report) {
    const url = new URL(session.client.urlOf('/'));
    if (url.protocol !== 'https:') return;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const accepted: string[] = [];
    const weak: { label: string; cipher: string; severity: Severity }[] = [];
    for (const probe of planned) {
      if (probe.rule === 'api8.legacy-tls') {
        const version = probe.endpoint.slice(4) as (typeof LEGACY)[number];
        await session.client.acquire();
        if (await acceptsTlsVersion(host, port, version)) accepted.push(version);
        continue;
      }
      const family = WEAK_CIPHER_FAMILIES.find((f) => probe.endpoint === `TLS 1.2 ${f.label}`);
      if (!family) continue;
      if (!canOffer(family.ciphers)) {
        session.notes.push(`TLS 1.2 ${family.label} suites: this Node.js/OpenSSL build cannot offer them, so whether ${url.host} accepts them is not known.`);
        continue;
      }
      await session.client.acquire();
      const result = await handshake(host, port, 'TLSv1.2', family.ciphers);
      if (result) weak.push({ label: family.label, cipher: result.cipher, severity: family.severity });
    }
    if (accepted.length > 0) {
      const request = { method: 'TLS', url: `${url.host}`, headers: {} };
      report(findingOf('api8.legacy-tls', { endpoint: url.host, detail: `${url.host} completed a handshake with ${accepted.join(' and ')}.`, evidence: [{ request, response: { status: 0, headers: { protocol: accepted.join(', ') } } }] }));
    }
    if (weak.length > 0) {
      const severity = weak.reduce<Severity>((worst, w) => (SEVERITIES.indexOf(w.severity) > SEVERITIES.indexOf(worst) ? w.severity : worst), 'info');
      const evidence = weak.map((w) => ({ request: { method: 'TLS', url: url.host, headers: { offered: `TLSv1.2, ${w.label} only` } }, response: { status: 0, headers: { protocol: 'TLSv1.2', cipher: w.cipher } } }));
      report(findingOf('api8.weak-tls-ciphers', { endpoint: url.host, severity, detail: `${url.host} accepted TLS 1.2 handshakes with ${weak.map((w) => `${w.label} (${w.cipher})`).join(', ')}.`, evidence }));
    }
  },
};
