/**
 * Attack simulations on loopback against a real gateway (passthrough API in front of a scripted upstream), many
 * client IPs simulated through a trusted proxy + X-Forwarded-For: credential stuffing, scraping and a fuzzing burst
 * each open the right incident with evidence, block the IP within 5 s (403 ip_blocked, upstream not reached),
 * send a signed alert webhook, and show in /metrics; a benign replay opens none; resolving lifts the block.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { verifySignature, SIGNATURE_HEADER } from '../src/monitor/webhooks.ts';
import type { Incident } from '../src/monitor/incidents.ts';

const SECRET = 'whsec-test-0123456789';

interface Received {
  readonly body: string;
  readonly valid: boolean;
}

async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const valid = verifySignature(SECRET, body, String(req.headers[SIGNATURE_HEADER] ?? ''), Math.floor(Date.now() / 1000));
      received.push({ body, valid });
      res.writeHead(valid ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('attack simulations → incidents and containment', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (req, res) => {
      const url = req.url ?? '/';
      const status = url.startsWith('/login') ? 401 : url.startsWith('/orders') && req.method === 'POST' ? 422 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: status === 200 }));
    };
    receiver = await startReceiver();
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        upstreams: { up: { url: upstream.url } },
        apis: [{ name: 'shop', passthrough: true, upstream: 'up' }],
        monitor: {
          interval_ms: 50,
          detectors: {
            auth_failures: { threshold: 8, window_seconds: 60 },
            scraping: { distinct_resources: 25, window_seconds: 60 },
            error_spike: { threshold: 10, window_seconds: 60 },
            rate_spike: { min_requests: 5000 },
          },
          respond: { block_ip_minutes: 15 },
          alerts: [{ url: receiver.url, secret: '${env:RAMPART_TEST_ALERT_SECRET}', backoff_ms: 50, max_attempts: 3 }],
        },
      },
      { env: { ...process.env, RAMPART_TEST_ALERT_SECRET: SECRET } },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await receiver.close();
  });

  const send = (ip: string, path: string, init: RequestInit = {}) =>
    fetch(gw.url + path, { ...init, headers: { 'x-forwarded-for': ip, ...(init.headers as Record<string, string> | undefined) } });

  async function incidents(): Promise<Incident[]> {
    const res = await fetch(`${gw.adminUrl}/admin/incidents`);
    return ((await res.json()) as { incidents: Incident[] }).incidents;
  }

  /** Polls the admin API (bounded: 5 s) for an open incident of `kind` on `ip`. */
  async function waitForIncident(kind: string, ip: string): Promise<Incident> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const found = (await incidents()).find((i) => i.kind === kind && i.subject.ip === ip && i.status === 'open');
      if (found && found.actions.some((a) => a.type === 'block_ip' && a.status === 'applied')) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${kind} incident with containment for ${ip} within 5 s`);
  }

  async function assertBlocked(ip: string): Promise<void> {
    const before = upstream.seen.length;
    const res = await send(ip, '/anything');
    assert.equal(res.status, 403);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['type'], 'https://rampart.dev/problems/ip_blocked');
    assert.equal(upstream.seen.length, before, 'a blocked IP must not reach the upstream');
  }

  test('a benign replayed script opens no incident', async () => {
    for (let round = 0; round < 3; round++) {
      for (const ip of ['192.0.2.10', '192.0.2.11']) {
        for (const path of ['/products', '/products/1', '/products/2', '/cart']) assert.equal((await send(ip, path)).status, 200);
        await send(ip, '/login', { method: 'POST', body: '{}' }); // one typo'd password per round
      }
    }
    await gw.gateway.monitor.drain();
    assert.deepEqual(await incidents(), []);
  });

  test('credential stuffing: auth-failure burst → incident with evidence, IP blocked, signed alert', async () => {
    const ip = '203.0.113.7';
    for (let i = 0; i < 12; i++) await send(ip, '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: `u${i}`, password: 'x' }) });
    const incident = await waitForIncident('auth_failures', ip);
    assert.equal(incident.severity, 'high');
    assert.ok(incident.evidence.requestIds.length >= 8);
    assert.ok(incident.evidence.counts['auth_failures']! >= 8);
    assert.ok(incident.timeline.some((t) => t.event === 'opened'));
    await assertBlocked(ip);
    await gw.gateway.monitor.drainAlerts();
    const alert = receiver.received.find((r) => r.body.includes(incident.id));
    assert.ok(alert, 'an alert webhook was delivered');
    assert.equal(alert.valid, true, 'the receiver verified the HMAC signature');
  });

  test('scraping: many distinct resources → incident and block', async () => {
    const ip = '203.0.113.8';
    for (let i = 0; i < 30; i++) await send(ip, `/products/${i}?page=${i}`);
    const incident = await waitForIncident('scraping', ip);
    assert.ok(incident.count >= 25);
    await assertBlocked(ip);
  });

  test('fuzzing burst: validation failures and errors → error_spike incident and block', async () => {
    const ip = '203.0.113.9';
    for (let i = 0; i < 12; i++) await send(ip, '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"qty": "${'A'.repeat(i)}"}` });
    const incident = await waitForIncident('error_spike', ip);
    assert.equal(incident.kind, 'error_spike');
    await assertBlocked(ip);
  });

  test('metrics expose requests, denies, incidents and blocked IPs without unbounded labels', async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.match(text, /rampart_requests_total\{api="shop",operation="shop:passthrough",status="200",decision="allow"\} \d+/);
    assert.match(text, /rampart_denies_total\{api="shop",stage="ip-filter",code="ip_blocked"\} \d+/);
    assert.match(text, /rampart_incidents_active\{severity="high"\} [1-9]/);
    assert.match(text, /rampart_blocked_ips [3-9]/);
    assert.match(text, /rampart_gateway_overhead_seconds_bucket/);
    assert.match(text, /rampart_upstream_duration_seconds_bucket\{le="[^"]+",upstream="up"\}/);
    assert.match(text, /rampart_incidents_opened_total\{kind="auth_failures",severity="high"\} 1/);
    assert.match(text, /rampart_audit_records_total [1-9]/);
    assert.doesNotMatch(text, /203\.0\.113|\/products\/|\/login/, 'no IPs or raw paths as label values');
  });

  test('resolving an incident lifts its block (audited) and the IP is served again', async () => {
    const ip = '203.0.113.7';
    const incident = (await incidents()).find((i) => i.kind === 'auth_failures' && i.subject.ip === ip)!;
    const res = await fetch(`${gw.adminUrl}/admin/incidents/${incident.id}/resolve`, { method: 'POST', body: JSON.stringify({ actor: 'alice', note: 'false positive' }) });
    assert.equal(res.status, 200);
    const resolved = (await res.json()) as Incident;
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.actions.find((a) => a.type === 'block_ip')?.status, 'reverted');
    assert.equal((await send(ip, '/products')).status, 200);
    const audit = gw.gateway.monitor.audit!.store;
    const lifted = await audit.search({ type: 'ip.unblocked' });
    assert.ok(lifted.some((r) => r.fields['actor'] === 'admin-api:alice'), JSON.stringify(lifted));
    assert.ok((await audit.search({ type: 'incident.resolved', text: incident.id })).length === 1);
  });

  test('every deny is in the audit trail with stage, code and rule; IPs pseudonymised', async () => {
    const denied = await gw.gateway.monitor.audit!.store.search({ type: 'request.denied', text: 'ip_blocked' });
    assert.ok(denied.length > 0);
    const f = denied[0]!.fields;
    assert.equal(f['stage'], 'ip-filter');
    assert.equal(f['rule'], 'dynamic_block');
    assert.match(String(f['ip']), /^ip_[0-9a-f]{32}$/);
  });
});
