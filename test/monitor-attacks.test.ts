/**
 * Attack simulations on loopback against a real gateway (passthrough API in front of a scripted upstream), many
 * client IPs simulated through a trusted proxy + X-Forwarded-For: credential stuffing, scraping and a fuzzing burst
 * each open the right incident with evidence, block the IP within 5 s (403 ip_blocked, upstream not reached),
 * send a signed alert webhook, and show in /metrics; a benign replay opens none; resolving lifts the block.
 * Against the demo API behind Rampart: BOLA enumeration by a JWT user (its tokens revoked, its limit tightened)
 * and a leaked API key used from many IPs (key suspended, consumer tightened), both reverted on resolve.
 * The admin listener authenticates every monitor route (tokens from test/helpers/apikeys.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startDemoStack, DEMO_AUTHZ, type DemoStack } from './helpers/demo-stack.ts';
import { ADMIN_TOKEN, READ_TOKEN, TEST_ENV, adminCall } from './helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { verifySignature, SIGNATURE_HEADER } from '../src/monitor/webhooks.ts';
import type { Incident } from '../src/monitor/incidents.ts';

const SECRET = 'whsec-test-0123456789';
const ADMIN_TOKENS = { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }, { name: 'auditor', token: '${env:T_READ}', role: 'read_only' }] };

/** Calls a route of the admin listener with a bearer token. */
function adminFetch(base: string, path: string, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  return fetch(base + path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string> | undefined) } });
}

async function listIncidents(base: string): Promise<Incident[]> {
  const res = await adminFetch(base, '/admin/v1/incidents', READ_TOKEN);
  assert.equal(res.status, 200);
  return ((await res.json()) as { items: Incident[] }).items;
}

/** Polls (bounded: 5 s) for an open incident matching `match` whose containment of `action` is applied. */
async function waitForContained(base: string, match: (i: Incident) => boolean, action: string): Promise<Incident> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const found = (await listIncidents(base)).find((i) => match(i) && i.status === 'open');
    if (found && found.actions.some((a) => a.type === action && a.status === 'applied')) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no incident with ${action} applied within 5 s`);
}

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
        admin: ADMIN_TOKENS,
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
      { env: { ...TEST_ENV, RAMPART_TEST_ALERT_SECRET: SECRET } },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await receiver.close();
  });

  const send = (ip: string, path: string, init: RequestInit = {}) =>
    fetch(gw.url + path, { ...init, headers: { 'x-forwarded-for': ip, ...(init.headers as Record<string, string> | undefined) } });

  const incidents = () => listIncidents(gw.adminUrl);

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
    const res = await adminFetch(gw.adminUrl, '/metrics', READ_TOKEN);
    assert.equal(res.status, 200);
    const text = await res.text();
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

  test('resolving an incident lifts its block (audited with the token name, not a body field) and the IP is served again', async () => {
    const ip = '203.0.113.7';
    const incident = (await incidents()).find((i) => i.kind === 'auth_failures' && i.subject.ip === ip)!;
    const path = `/admin/v1/incidents/${incident.id}/resolve`;
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ actor: 'mallory', note: 'false positive' }) };
    // A form or text/plain body (what a cross-site page can send without a preflight) and a prototype key are refused.
    const textPlain = await adminFetch(gw.adminUrl, path, ADMIN_TOKEN, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"note":"csrf"}' });
    assert.equal(textPlain.status, 415);
    const proto = await adminFetch(gw.adminUrl, path, ADMIN_TOKEN, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"__proto__":{"x":1}}' });
    assert.equal(proto.status, 400);
    const readOnly = await adminFetch(gw.adminUrl, path, READ_TOKEN, init);
    assert.equal(readOnly.status, 403, 'a read_only token cannot resolve');
    assert.equal(((await readOnly.json()) as Record<string, unknown>)['type'], 'https://rampart.dev/problems/forbidden');
    assert.equal((await incidents()).find((i) => i.id === incident.id)?.status, 'open');
    const res = await adminFetch(gw.adminUrl, path, ADMIN_TOKEN, init);
    assert.equal(res.status, 200);
    const resolved = (await res.json()) as Incident;
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.resolvedBy, 'ops');
    assert.equal(resolved.actions.find((a) => a.type === 'block_ip')?.status, 'reverted');
    assert.equal((await send(ip, '/products')).status, 200);
    const audit = gw.gateway.monitor.audit!.store;
    const lifted = await audit.search({ type: 'ip.unblocked' });
    assert.ok(lifted.some((r) => r.fields['actor'] === 'ops'), JSON.stringify(lifted));
    assert.ok(!lifted.some((r) => String(r.fields['actor']).includes('mallory')), 'the body cannot choose the actor');
    assert.ok((await audit.search({ type: 'incident.resolved', text: incident.id })).length === 1);
  });

  test('lifting a block: read_only gets 403, admin lifts it (actor = token name)', async () => {
    const ip = '203.0.113.8';
    assert.ok((((await (await adminFetch(gw.adminUrl, '/admin/v1/blocks', READ_TOKEN)).json()) as { items: { ip: string }[] }).items).some((b) => b.ip === ip));
    assert.equal((await adminFetch(gw.adminUrl, `/admin/v1/blocks/${ip}`, READ_TOKEN, { method: 'DELETE' })).status, 403);
    await assertBlocked(ip);
    assert.equal((await adminFetch(gw.adminUrl, `/admin/v1/blocks/${ip}`, ADMIN_TOKEN, { method: 'DELETE' })).status, 200);
    assert.equal((await send(ip, '/products')).status, 200);
    await gw.gateway.monitor.audit!.log.flush();
    const lifted = await gw.gateway.monitor.audit!.store.search({ type: 'ip.unblocked' });
    assert.ok(lifted.some((r) => r.fields['actor'] === 'ops'));
  });

  test('admin listener: no or unknown token → 401 problem+json with WWW-Authenticate on every non-public route', async () => {
    const routes: [string, string][] = [
      ['GET', '/metrics'],
      ['GET', '/admin/v1/incidents'],
      ['GET', '/admin/v1/incidents/inc_x'],
      ['POST', '/admin/v1/incidents/inc_x/resolve'],
      ['GET', '/admin/v1/blocks'],
      ['DELETE', '/admin/v1/blocks/203.0.113.9'],
      ['GET', '/admin/v1/ratelimit/counters'],
      ['DELETE', '/admin/v1/ratelimit/counters?prefix=rl:x'],
      ['GET', '/admin/v1/ratelimit/lockouts'],
      ['GET', '/admin/v1/ratelimit/concurrency'],
      ['GET', '/admin/v1/keys'],
      ['GET', '/no/such/route'],
    ];
    for (const [method, path] of routes) {
      for (const token of [undefined, 'u'.repeat(40)]) {
        const res = await adminFetch(gw.adminUrl, path, token, { method });
        assert.equal(res.status, 401, `${method} ${path}`);
        assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="rampart-admin"/);
        const body = (await res.json()) as Record<string, unknown>;
        assert.equal(body['type'], 'https://rampart.dev/problems/unauthorized');
        assert.equal(typeof body['requestId'], 'string');
      }
    }
    await assertBlocked('203.0.113.9'); // the unauthenticated DELETE above lifted nothing
    assert.equal((await adminFetch(gw.adminUrl, '/admin/v1/ratelimit/counters?prefix=rl:x', READ_TOKEN, { method: 'DELETE' })).status, 403);
    assert.equal((await adminFetch(gw.adminUrl, '/admin/v1/ratelimit/counters', READ_TOKEN)).status, 200);
    assert.equal((await adminFetch(gw.adminUrl, '/no/such/route', READ_TOKEN)).status, 404, 'a known caller learns the route does not exist');
  });

  test('admin listener: /healthz, /readyz and the identity JWKS stay public', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json']) {
      const res = await fetch(gw.adminUrl + path);
      assert.equal(res.status, 200, path);
    }
    assert.ok((((await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: unknown[] }).keys).length > 0);
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

describe('attacks on the demo API behind Rampart → containment of keys, tokens and limits', () => {
  let stack: DemoStack;
  let alice: string;
  let bob: string;

  before(async () => {
    process.env['T_ADMIN'] = ADMIN_TOKEN;
    process.env['T_READ'] = READ_TOKEN;
    stack = await startDemoStack(
      { ...DEMO_AUTHZ, rate_limits: [{ name: 'per-consumer', key: 'consumer', limit: '40/min' }] },
      {
        trusted_proxies: ['127.0.0.1'],
        admin: ADMIN_TOKENS,
        monitor: {
          interval_ms: 50,
          detectors: {
            enumeration: { distinct_ids: 15, window_seconds: 60 },
            key_many_ips: { distinct_ips: 5, window_seconds: 300 },
            error_spike: { threshold: 1000 },
            rate_spike: { min_requests: 5000 },
          },
          respond: { block_ip_minutes: 0, suspend_keys: true, revoke_tokens: true, tighten_rate_limit: { enabled: true, factor: 0.1, minutes: 15 } },
        },
      },
    );
    [alice, bob] = await Promise.all([stack.token('alice'), stack.token('bob')]);
  });
  after(() => stack?.close());

  const base = () => stack.gateway.adminUrl;
  const call = (path: string, headers: Record<string, string>, ip: string) => fetch(stack.gateway.url + path, { headers: { 'x-forwarded-for': ip, ...headers } });

  async function resolve(id: string): Promise<Incident> {
    const res = await adminFetch(base(), `/admin/v1/incidents/${id}/resolve`, ADMIN_TOKEN, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"note":"contained and rotated"}' });
    assert.equal(res.status, 200);
    return (await res.json()) as Incident;
  }

  test('BOLA enumeration by a JWT user → incident with evidence, its tokens revoked within 5 s; resolve restores them', async () => {
    const ip = '198.51.100.20';
    const own = await call('/orders/ord-1', { authorization: `Bearer ${alice}` }, ip);
    assert.equal(own.status, 200, 'the legitimate read passes');
    const statuses: number[] = [];
    for (let i = 100; i < 120; i++) statuses.push((await call(`/orders/ord-${i}`, { authorization: `Bearer ${alice}` }, ip)).status);
    assert.deepEqual(statuses.slice(0, 15), Array(15).fill(404), 'the walk is answered 404 until the detector fires');
    assert.ok(statuses.every((st) => st === 404 || st === 401), 'then (containment may land mid-walk) 401');
    const incident = await waitForContained(base(), (i) => i.kind === 'enumeration' && i.subject.subject === 'u-alice', 'revoke_tokens');
    assert.equal(incident.severity, 'high');
    assert.ok(incident.evidence.requestIds.length >= 15);
    assert.ok(incident.evidence.counts['distinct_ids']! >= 15);
    assert.ok(incident.timeline.some((t) => t.event === 'action.revoke_tokens'));
    const denied = await call('/orders/ord-1', { authorization: `Bearer ${alice}` }, ip);
    assert.equal(denied.status, 401, "alice's token issued before the incident is refused");
    assert.match(denied.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal((await call('/orders/ord-3', { authorization: `Bearer ${bob}` }, '198.51.100.21')).status, 200, 'another user is unaffected');
    const events = await adminCall(base(), 'GET', '/events', READ_TOKEN);
    assert.ok((events.json['items'] as { action: string; target_id: string }[]).some((e) => e.action === 'tokens.revoke' && e.target_id === 'u-alice'));

    const resolved = await resolve(incident.id);
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.actions.find((a) => a.type === 'revoke_tokens')?.status, 'reverted');
    assert.equal((await call('/orders/ord-1', { authorization: `Bearer ${alice}` }, ip)).status, 200, 'resolving lifts the revocation');
  });

  test('leaked API key used from many IPs → incident, key suspended (401) and consumer tightened within 5 s; resolve reinstates', async () => {
    assert.equal((await adminCall(base(), 'POST', '/consumers', ADMIN_TOKEN, { id: 'partner', name: 'Partner' })).status, 201);
    const leaked = String((await adminCall(base(), 'POST', '/keys', ADMIN_TOKEN, { consumer: 'partner' })).json['key']);
    const spare = await adminCall(base(), 'POST', '/keys', ADMIN_TOKEN, { consumer: 'partner' });
    // Exactly the threshold (distinct_ips: 5): a sixth request would race the containment the fifth set off.
    for (let i = 1; i <= 5; i++) assert.equal((await call('/orders', { 'x-api-key': leaked }, `192.0.2.${100 + i}`)).status, 200);
    const incident = await waitForContained(base(), (i) => i.kind === 'key_many_ips', 'suspend_key');
    const keyId = incident.subject.keyId!;
    assert.ok(keyId && leaked.includes(keyId), `incident names the key (${keyId})`);
    assert.ok(incident.evidence.counts['distinct_ips']! >= 5);
    assert.equal(incident.actions.find((a) => a.type === 'tighten_rate_limit')?.status, 'applied');
    const refused = await call('/orders', { 'x-api-key': leaked }, '192.0.2.101');
    assert.equal(refused.status, 401, 'the suspended key is refused');
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    // The consumer's other key still works, under the tightened limit (40/min × 0.1 = 4/min).
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await call('/orders', { 'x-api-key': String(spare.json['key']) }, '192.0.2.50')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const view = await adminCall(base(), 'GET', `/keys/${keyId}`, READ_TOKEN);
    assert.equal(view.json['status'], 'active', 'suspension leaves the key record as it was');

    const resolved = await resolve(incident.id);
    assert.deepEqual(resolved.actions.filter((a) => a.type !== 'revoke_tokens').map((a) => [a.type, a.status]), [['suspend_key', 'reverted'], ['tighten_rate_limit', 'reverted']]);
    assert.equal((await call('/orders', { 'x-api-key': leaked }, '192.0.2.101')).status, 200, 'the key is reinstated');
    assert.equal((await call('/orders', { 'x-api-key': String(spare.json['key']) }, '192.0.2.50')).status, 200, 'the configured limit is back');
    const actions = ((await adminCall(base(), 'GET', '/events', READ_TOKEN)).json['items'] as { action: string; actor: string; target_id: string }[]).filter((e) => e.target_id === keyId);
    assert.ok(actions.some((e) => e.action === 'key.suspend' && e.actor === 'monitor'));
    assert.ok(actions.some((e) => e.action === 'key.reinstate' && e.actor === 'ops'));
  });
});
