/**
 * Rate-limit features through a real gateway: throttling (`action: delay` up to its cap), CEL keys, plans
 * assigned to API-key consumers, the default failure policy by route kind (login closed, elsewhere open with a
 * local fallback) with the circuit breaker, and the concurrency limit answering 503.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RedisCounter } from '../src/counters/index.ts';
import { ADMIN_TOKEN, KEYS_SPEC, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { itemsConfig, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

describe('throttling, CEL keys and the concurrency limit (memory counters)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const held: ServerResponse[] = [];
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      itemsConfig(upstream.url, {
        api: {
          response: { mode: 'off' },
          rate_limits: [
            { name: 'throttle', key: 'header:x-client', algorithm: 'token_bucket', rate: '1/s', burst: 1, action: 'delay', max_delay_ms: 5000, operations: ['listItems'] },
            { name: 'strict', key: 'header:x-client', algorithm: 'token_bucket', rate: '1/s', burst: 1, operations: ['createItem'] },
            { name: 'capped', key: 'ip', algorithm: 'token_bucket', rate: '1/min', burst: 1, action: 'delay', max_delay_ms: 200, operations: ['getItem'] },
            { name: 'per-org', key: 'cel:request.headers["x-org"] + "/" + request.method', algorithm: 'fixed_window', limit: '2/min', operations: ['deleteItem'] },
          ],
          operations: { slow: { concurrency: { max_in_flight: 1, key: 'route', status: 503 } } },
        },
      }),
      { files: SPEC_FILES },
    );
  });
  after(async () => {
    for (const res of held) res.end();
    await gw?.close();
    await upstream?.close();
  });

  it('action delay spreads a burst over time instead of refusing it; the same limit with reject refuses', async () => {
    const burst = await Promise.all([0, 1, 2].map(() => send(gw.url, '/items', { headers: { 'x-client': 'batch' }, timeoutMs: 8000 })));
    assert.deepEqual(burst.map((r) => r.status), [200, 200, 200], 'every throttled request was served once capacity came');
    assert.equal(upstream.seen.filter((s) => s.url === '/items' && s.method === 'GET').length, 3);

    const body = '{}';
    const headers = { 'x-client': 'batch', 'content-type': 'application/json' };
    const rejected = await Promise.all([0, 1, 2].map(() => send(gw.url, '/items', { method: 'POST', headers, body })));
    const statuses = rejected.map((r) => r.status).sort();
    assert.equal(statuses[0], 200);
    assert.ok(statuses.filter((s) => s === 429).length >= 1, `reject refuses the burst (${statuses.join(',')})`);
  });

  it('action delay never waits past max_delay_ms: beyond the cap the answer is 429 with Retry-After', async () => {
    assert.equal((await send(gw.url, '/items/1')).status, 200);
    const denied = await send(gw.url, '/items/1');
    assert.equal(denied.status, 429);
    assert.ok(Number(denied.headers['retry-after']) > 1, 'the wait needed (a minute) is beyond the 200 ms cap');
  });

  it('a CEL key counts per expression value (org and method here), hashed', async () => {
    const del = (org: string) => send(gw.url, '/items/7', { method: 'DELETE', headers: { 'x-org': org } });
    assert.equal((await del('acme')).status, 200);
    const second = await del('acme');
    assert.equal(second.status, 200);
    assert.equal(second.headers['ratelimit-policy'], '"per-org";q=2;w=60');
    assert.match(String(second.headers['ratelimit']), /^"per-org";r=0;t=\d+$/);
    assert.equal((await del('acme')).status, 429, 'the third DELETE for org acme is refused');
    assert.equal((await del('globex')).status, 200, 'another org has its own counter');
    const listed = await gw.gateway.services.counters!.shared.list('{rl:items:per-org', 10);
    assert.ok(listed.length >= 2);
    assert.ok(listed.every((e) => !e.key.includes('acme') && !e.key.includes('globex')), 'the CEL value is hashed in the key');
  });

  it('concurrency limit with status 503: past max_in_flight the route answers 503 problem+json', async () => {
    upstream.handler = (req, res) => {
      if (req.url === '/slow') held.push(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    };
    const first = send(gw.url, '/slow');
    for (let i = 0; i < 100 && held.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(held.length, 1);
    const refused = await send(gw.url, '/slow');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(refused.json()['type'], 'https://rampart.dev/problems/service_unavailable');
    assert.equal((await send(gw.url, '/items', { headers: { 'x-client': 'other' } })).status, 200, 'other routes are not affected');
    held.shift()!.end('{}');
    assert.equal((await first).status, 200);
    upstream.handler = undefined;
    assert.equal((await send(gw.url, '/slow')).status, 200, 'the slot is free again once the response closed');
  });
});

describe('plans assign limits to API-key consumers', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const keys: Record<string, string> = {};
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      keysConfig(upstream.url, {
        plans: {
          gold: [{ name: 'gold', key: 'api_key', algorithm: 'fixed_window', limit: '4/min' }],
          default: [{ name: 'basic', key: 'api_key', algorithm: 'fixed_window', limit: '2/min' }],
        },
      }),
      { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV },
    );
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'rich', name: 'Rich', plan: 'gold' })).status, 201);
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'poor', name: 'Poor' })).status, 201);
    for (const consumer of ['rich', 'poor']) {
      const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer, scopes: [] });
      assert.equal(created.status, 201);
      keys[consumer] = String(created.json['key']);
    }
    const upgraded = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'poor', scopes: [], plan: 'gold' });
    keys['poor-gold-key'] = String(upgraded.json['key']);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const call = (key: string) => send(gw.url, '/items', { headers: { 'x-api-key': key } });
  const admitted = async (key: string, tries: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < tries; i++) statuses.push((await call(key)).status);
    return statuses;
  };

  it('the consumer plan (gold) gives its limit and its RateLimit-Policy', async () => {
    const first = await call(keys['rich']!);
    assert.equal(first.status, 200);
    assert.equal(first.headers['ratelimit-policy'], '"gold";q=4;w=60');
    assert.deepEqual(await admitted(keys['rich']!, 4), [200, 200, 200, 429]);
  });

  it('a consumer without a plan gets plan default; a key with its own plan overrides the consumer', async () => {
    const first = await call(keys['poor']!);
    assert.equal(first.headers['ratelimit-policy'], '"basic";q=2;w=60');
    assert.deepEqual(await admitted(keys['poor']!, 2), [200, 429]);
    assert.deepEqual(await admitted(keys['poor-gold-key']!, 5), [200, 200, 200, 200, 429], 'the key plan (gold) applies, counted per key');
  });

  it('public routes (no identity) are not given a plan limit by mistake', async () => {
    const res = await send(gw.url, '/public');
    assert.equal(res.status, 200);
  });
});

describe('default failure policy by route, and the circuit breaker, with Redis not answering', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const sockets = new Set<Socket>();
  // Accepts TCP connections and never answers: the worst case for a client without timeouts.
  const silent = createServer((s) => sockets.add(s));
  before(async () => {
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    upstream = await startUpstream();
    gw = await startGateway(
      itemsConfig(upstream.url, {
        counters: { kind: 'redis', url: `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeout_ms: 50, breaker_failures: 3, breaker_cooldown_ms: 60000 },
        api: {
          response: { mode: 'off' },
          brute_force: { enabled: false },
          // The same limit, no `failure:` given: its default depends on whether the route is a login route.
          rate_limits: [{ name: 'per-ip', key: 'ip', algorithm: 'fixed_window', limit: '3/min', operations: ['createItem', 'listItems'] }],
          operations: { createItem: { login: { account_field: 'username' } } },
        },
      }),
      { files: SPEC_FILES },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it('the login route fails closed (503); another route fails open onto local counting; the breaker opens', async () => {
    const login = await send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"alice"}', timeoutMs: 5000 });
    assert.equal(login.status, 503, 'login route: closed by default');
    assert.equal(login.json()['type'], 'https://rampart.dev/problems/service_unavailable');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      statuses.push((await send(gw.url, '/items', { timeoutMs: 5000 })).status);
      // Bounded, not measured: only catches a request hanging on the silent Redis.
      assert.ok(Date.now() - started < 2000, 'no request waits on a Redis that does not answer');
    }
    assert.deepEqual(statuses, [200, 200, 200, 429], 'other routes: open with the local fallback, which still limits');
    const shared = gw.gateway.services.counters!.shared as RedisCounter;
    assert.equal(shared.breakerState, 'open', 'consecutive failures opened the circuit breaker');
    const again = await send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"bob"}', timeoutMs: 5000 });
    assert.equal(again.status, 503, 'while the breaker is open the login route still fails closed');
  });
});
