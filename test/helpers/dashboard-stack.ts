import { chromium, type Browser } from 'playwright-core';
import { startGateway, type TestGateway } from './gateway.ts';
import { ADMIN_CONFIG, KEYS_SPEC, TEST_ENV } from './apikeys.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

/** A gateway in front of a scripted shop (whose /login always fails) and an API-key API, with the dashboard on. */
export interface DashboardStack {
  readonly gw: TestGateway;
  readonly upstream: TestUpstream;
  /** Sends a request to the data plane as client `ip` (through the trusted loopback proxy). */
  send(ip: string, path: string, init?: RequestInit): Promise<Response>;
  /** Twelve failed logins for distinct accounts from `ip`: a credential-stuffing burst. */
  stuff(ip: string): Promise<void>;
  close(): Promise<void>;
}

export async function startDashboardStack(): Promise<DashboardStack> {
  const upstream = await startUpstream();
  upstream.handler = (req, res) => {
    const status = (req.url ?? '/').startsWith('/login') ? 401 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: status === 200 }));
  };
  const gw = await startGateway(
    {
      trusted_proxies: ['127.0.0.1'],
      upstreams: { up: { url: upstream.url } },
      apis: [
        { name: 'shop', passthrough: true, upstream: 'up', base_path: '/shop' },
        { name: 'partner', spec: './keys.yaml', upstream: 'up', base_path: '/partner', auth: { api_keys: true }, response: { mode: 'off' } },
      ],
      admin: ADMIN_CONFIG,
      monitor: { interval_ms: 50, detectors: { auth_failures: { threshold: 8, window_seconds: 60 }, rate_spike: { min_requests: 5000 } }, respond: { block_ip_minutes: 15 } },
    },
    { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV },
  );
  const send = (ip: string, path: string, init: RequestInit = {}) => fetch(gw.url + path, { ...init, headers: { 'x-forwarded-for': ip, ...(init.headers as Record<string, string> | undefined) } });
  return {
    gw,
    upstream,
    send,
    async stuff(ip: string) {
      for (let i = 0; i < 12; i++) await send(ip, '/shop/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: `user${i}@example.com`, password: 'Winter2026!' }) });
    },
    async close() {
      await gw.close();
      await upstream.close();
    },
  };
}

/** Debian's Chromium driven by playwright-core (never a downloaded browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
}
