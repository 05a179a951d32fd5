/**
 * One Prometheus scrape of a real gateway after real traffic: every metric family the monitoring issue names is
 * there with the expected labels, and no label is unbounded or personal (raw path, object id, IP, consumer, key).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, READ_TOKEN, TEST_ENV, adminCall, ADMIN_CONFIG } from './helpers/apikeys.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { eventually, send } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { apiKey: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
  /orders:
    post:
      operationId: createOrder
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, required: [qty], properties: { qty: { type: integer } } }
      responses: { '201': { description: created } }
  /things/{id}:
    get:
      operationId: getThing
      security: []
      parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
      responses: { '200': { description: ok } }
`;

const ATTACKER = '203.0.113.77';

/** `name{a="x",b="y"} value` lines of the exposition text, parsed. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return out;
}

describe('metrics scrape after real traffic', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let key = '';
  let keyId = '';
  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (req, res) => {
      const status = req.url === '/things/boom' ? 503 : req.method === 'POST' ? 201 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    };
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        upstreams: { main: { url: upstream.url } },
        apis: [
          {
            name: 'shop',
            spec: './shop.yaml',
            upstream: 'main',
            auth: { api_keys: true },
            response: { mode: 'off' },
            rate_limits: [{ name: 'per-key', key: 'api_key', algorithm: 'fixed_window', limit: '2/min', operations: ['listItems'] }],
          },
        ],
        admin: ADMIN_CONFIG,
        monitor: { interval_ms: 50, detectors: { auth_failures: { threshold: 4, window_seconds: 60 } }, respond: { block_ip_minutes: 15 } },
      },
      { files: { 'shop.yaml': SPEC }, env: TEST_ENV },
    );
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'consumer-4711', name: 'C' })).status, 201);
    const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'consumer-4711', scopes: [] });
    key = String(created.json['key']);
    keyId = String(created.json['id']);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('every family is exported with bounded labels only', async () => {
    // Allowed, then rate limited, by API key.
    for (let i = 0; i < 3; i++) await send(gw.url, '/items', { headers: { 'x-api-key': key } });
    // 30 distinct object ids: one series, not 30.
    for (let i = 0; i < 30; i++) assert.equal((await send(gw.url, `/things/id-${i}-secretish`)).status, 200);
    // Upstream failure, then validation failures.
    await send(gw.url, '/things/boom');
    for (let i = 0; i < 2; i++) {
      const bad = await send(gw.url, '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":"many"}' });
      assert.equal(bad.status, 400);
    }
    // Auth failures: a key that does not exist (api_key method), and no credential at all; enough to open an incident.
    for (let i = 0; i < 4; i++) await send(gw.url, '/items', { headers: { 'x-api-key': `${key.slice(0, -4)}ZZZZ`, 'x-forwarded-for': ATTACKER } });
    await send(gw.url, '/items');
    const blocks = async () => ((await (await fetch(`${gw.adminUrl}/admin/v1/blocks`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json()) as { items: unknown[] }).items;
    assert.ok(await eventually(async () => (await blocks()).length === 1), 'the auth-failure burst blocked the attacker');
    assert.equal((await send(gw.url, '/orders', { method: 'POST', headers: { 'x-forwarded-for': ATTACKER, 'content-type': 'application/json' }, body: '{"qty":1}' })).status, 403);

    const res = await fetch(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    const all = samples(text);
    const find = (name: string, labels: Record<string, string> = {}) =>
      all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    const total = (name: string, labels: Record<string, string> = {}) => find(name, labels).reduce((n, s) => n + s.value, 0);

    // Requests by API / operation / status / decision.
    assert.equal(total('rampart_requests_total', { api: 'shop', operation: 'getThing', status: '200', decision: 'allow' }), 30);
    assert.equal(find('rampart_requests_total', { operation: 'getThing', status: '200' }).length, 1, 'one series for 30 object ids');
    assert.equal(total('rampart_requests_total', { operation: 'listItems', status: '429', decision: 'deny' }), 1);
    // Latency: gateway overhead and upstream time, separately.
    assert.ok(total('rampart_gateway_overhead_seconds_count', { api: 'shop' }) >= 35);
    assert.ok(total('rampart_upstream_duration_seconds_count', { upstream: 'main' }) >= 31);
    assert.ok(find('rampart_upstream_duration_seconds_bucket', { upstream: 'main', le: '+Inf' }).length === 1);
    // Upstream health (the last exchange was a success after the 503).
    assert.equal(find('rampart_upstream_up', { upstream: 'main' }).length, 1);
    // Auth failures by method and reason.
    assert.equal(total('rampart_auth_failures_total', { method: 'api_key' }), 4);
    assert.ok(find('rampart_auth_failures_total', { method: 'api_key' }).every((s) => s.labels['reason'] !== 'unauthorized'), 'the authenticator reason, not only the problem code');
    assert.equal(total('rampart_auth_failures_total', { method: 'none', reason: 'unauthorized' }), 1);
    // Rate-limit rejections, validation failures, denies.
    assert.equal(total('rampart_rate_limited_total', { api: 'shop' }), 1);
    assert.equal(total('rampart_validation_failures_total', { api: 'shop', operation: 'createOrder' }), 2);
    assert.ok(total('rampart_denies_total', { api: 'shop', code: 'ip_blocked' }) >= 1);
    // Active incidents and blocked IPs.
    assert.equal(total('rampart_incidents_active'), 1);
    assert.equal(total('rampart_blocked_ips'), 1);
    assert.ok(total('rampart_incidents_opened_total', { kind: 'auth_failures' }) >= 1);
    assert.ok(total('rampart_security_events_total') >= 1);

    // No unbounded or personal label value anywhere.
    for (const s of all.filter((x) => x.name.startsWith('rampart_'))) {
      for (const [name, value] of Object.entries(s.labels)) {
        assert.match(value, /^[A-Za-z0-9_.:+-]{1,64}$/, `${s.name} ${name}="${value}" is not a bounded label value`);
        assert.doesNotMatch(value, /^\d+\.\d+\.\d+\.\d+$/, `${s.name} has an IP as label`);
      }
    }
    for (const secretish of ['secretish', 'consumer-4711', keyId, ATTACKER, '/things', '/items']) {
      assert.ok(!text.includes(secretish), `"${secretish}" must not appear in the metrics`);
    }
  });
});
