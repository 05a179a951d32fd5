/**
 * API8 TLS versions: for an https:// target, one handshake each with TLS 1.0 and TLS 1.1 (any cipher, certificate
 * not checked: only the protocol matters) to the target's own host:port. A completed handshake is a finding.
 */
import { connect } from 'node:tls';
import { findingOf, type ProbeModule } from '../probe.ts';

/** How long one handshake may take, in milliseconds. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
const LEGACY = ['TLSv1', 'TLSv1.1'] as const;

/** Whether host:port completes a handshake at exactly `version`. Errors and timeouts are "no". */
export function acceptsTlsVersion(host: string, port: number, version: (typeof LEGACY)[number], timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false, timeout: timeoutMs }, () => {
      resolve(socket.getProtocol() === version);
      socket.destroy();
    });
    socket.on('timeout', () => {
      resolve(false);
      socket.destroy();
    });
    socket.on('error', () => resolve(false));
  });
}

export const tls: ProbeModule = {
  name: 'tls',
  plan(context) {
    if (context.target && context.target.protocol !== 'https:') return [];
    return LEGACY.map((version) => ({ rule: 'api8.legacy-tls', endpoint: `TLS ${version}`, description: `a ${version} handshake (https:// targets only)`, destructive: false, maxRequests: 1 }));
  },
  async run(session, planned, report) {
    const url = new URL(session.client.urlOf('/'));
    if (url.protocol !== 'https:') return;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 443);
    const accepted: string[] = [];
    for (const probe of planned) {
      const version = probe.endpoint.slice(4) as (typeof LEGACY)[number];
      await session.client.acquire();
      if (await acceptsTlsVersion(host, port, version)) accepted.push(version);
    }
    if (accepted.length > 0) {
      const request = { method: 'TLS', url: `${url.host}`, headers: {} };
      report(findingOf('api8.legacy-tls', { endpoint: url.host, detail: `${url.host} completed a handshake with ${accepted.join(' and ')}.`, evidence: [{ request, response: { status: 0, headers: { protocol: accepted.join(', ') } } }] }));
    }
  },
};
