import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from '../../../test/helpers/gateway.ts';
import { itemsConfig, send, SPEC_FILES } from '../../../test/helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from '../../../test/helpers/upstream.ts';
import { ADMIN_TOKEN, READ_TOKEN, TEST_ENV } from '../../../test/helpers/apikeys.ts';
import { planOf } from './index.ts';
import { limitSpecOf, parseRate, policyItem } from './spec.ts';

describe('rate limits through the gateway (memory counters)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      itemsConfig(upstream.url, {
        api: {
          response: { mode: 'off' },
          rate_limits: [
            { name: 'per-ip', key: 'ip', algorithm: 'fixed_window', limit: '3/min', operations: ['listItems'] },
            { name: 'per-tenant', key: 'header:x-tenant', algorithm: 'token_bucket', rate: '1/min', burst: 2, operations: ['getItem'] },
          ],
          operations: { deleteItem: { rate_limits: [{ name: 'deletes', algorithm: 'sliding_log', limit: '1/hour', key: 'route' }] } },
        },
        admin: { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }, { name: 'auditor', token: '${env:T_READ}', role: 'read_only' }] },
      }),
      { files: SPEC_FILES, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('admits the limit with RateLimit headers, then answers 429 problem+json with Retry-After without reaching the upstream', async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await send(gw.url, '/items');
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['ratelimit-policy'], '"per-ip";q=3;w=60');
      assert.match(String(ok.headers['ratelimit']), new RegExp(`^"per-ip";r=${2 - i};t=\\d+$`));
    }
    const reached = upstream.seen.length;
    const denied = await send(gw.url, '/items');
    assert.equal(denied.status, 429);
    assert.equal(denied.headers['content-type'], 'application/problem+json');
    assert.ok(Number(denied.headers['retry-after']) >= 1);
    assert.equal(denied.headers['ratelimit-policy'], '"per-ip";q=3;w=60');
    const body = denied.json();
    assert.equal(body['type'], 'https://rampart.dev/problems/rate_limited');
    assert.equal(body['title'], 'Too many requests');
    assert.equal(upstream.seen.length, reached, 'upstream not reached');
  });

  it('keys by a header (hashed) so tenants are isolated; other operations are not limited', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await send(gw.url, '/items/1', { headers: { 'x-tenant': 'acme' } })).status, 200);
    assert.equal((await send(gw.url, '/items/1', { headers: { 'x-tenant': 'acme' } })).status, 429);
    assert.equal((await send(gw.url, '/items/1', { headers: { 'x-tenant': 'globex' } })).status, 200);
    const unlimited = await send(gw.url, '/slow');
    assert.equal(unlimited.headers['ratelimit-policy'], undefined);
  });

  it('per-operation limits apply to that operation', async () => {
    assert.equal((await send(gw.url, '/items/9', { method: 'DELETE' })).status, 200);
    const denied = await send(gw.url, '/items/9', { method: 'DELETE' });
    assert.equal(denied.status, 429);
    assert.ok(Number(denied.headers['retry-after']) > 3500, 'retry after the hour slides');
  });

  it('counters are listed and reset through the admin API (read_only lists, admin resets)', async () => {
    const read = { authorization: `Bearer ${READ_TOKEN}` };
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    assert.equal((await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters?prefix=rl:items`)).status, 401, 'no token');
    // A fixed window may have rolled over since the earlier tests (a minute boundary): count once more, so a
    // counter exists in the current window whatever the clock.
    await send(gw.url, '/items');
    const listed = (await (await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters?prefix=rl:items`, { headers: read })).json()) as { items: { key: string }[] };
    assert.ok(listed.items.some((e) => e.key.startsWith('{rl:items:per-ip|ip:')));
    assert.equal((await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters?prefix=rl:items:per-ip`, { method: 'DELETE', headers: read })).status, 403, 'read_only cannot reset');
    const reset = await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters?prefix=rl:items:per-ip`, { method: 'DELETE', headers: admin });
    assert.equal(((await reset.json()) as { removed: number }).removed, 1);
    assert.equal((await send(gw.url, '/items')).status, 200);
    assert.equal((await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters`, { method: 'DELETE', headers: admin })).status, 400, 'a prefix is required');
    await gw.gateway.monitor.audit!.log.flush(); // the writer thread commits the record a few ms later
    const resets = await gw.gateway.monitor.audit!.store.search({ type: 'ratelimit.reset' });
    assert.ok(resets.some((r) => r.fields['actor'] === 'ops'), 'the reset is audited with the token name');
  });
});

describe('failure policy with an unreachable Redis', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let closedPort: number;
  before(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    upstream = await startUpstream();
    gw = await startGateway(
      itemsConfig(upstream.url, {
        counters: { kind: 'redis', url: `redis://127.0.0.1:${closedPort}`, timeout_ms: 50 },
        api: {
          response: { mode: 'off' },
          rate_limits: [
            { name: 'open', key: 'ip', algorithm: 'fixed_window', limit: '2/min', failure: 'open', operations: ['listItems'] },
            { name: 'closed', key: 'ip', algorithm: 'fixed_window', limit: '100/min', failure: 'closed', operations: ['getItem'] },
          ],
        },
      }),
      { files: SPEC_FILES },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('fail-open limits fall back to local counting; fail-closed limits deny with 503', async () => {
    assert.equal((await send(gw.url, '/items')).status, 200);
    assert.equal((await send(gw.url, '/items')).status, 200);
    assert.equal((await send(gw.url, '/items')).status, 429, 'the local fallback still limits');
    const before = upstream.seen.length;
    const denied = await send(gw.url, '/items/1');
    assert.equal(denied.status, 503);
    assert.equal(denied.json()['type'], 'https://rampart.dev/problems/service_unavailable');
    assert.equal(upstream.seen.length, before);
  });
});

describe('rate limit config', () => {
  it('parses rates and builds specs and policy items', () => {
    assert.deepEqual(parseRate('100/min'), { count: 100, periodMs: 60_000 });
    assert.deepEqual(parseRate('5/10s'), { count: 5, periodMs: 10_000 });
    const base = { name: 'x', key: 'ip', action: 'reject', max_delay_ms: 1000 } as const;
    assert.deepEqual(limitSpecOf({ ...base, algorithm: 'token_bucket', rate: '50/s', burst: 100 }), { algorithm: 'token_bucket', intervalMs: 20, burst: 100 });
    assert.equal(policyItem('x', limitSpecOf({ ...base, algorithm: 'sliding_window', limit: '50000/day' })), '"x";q=50000;w=86400');
    assert.throws(() => limitSpecOf({ ...base, algorithm: 'fixed_window' }), /needs limit/);
    assert.throws(() => limitSpecOf({ ...base, algorithm: 'sliding_log', limit: '5000/min' }), /up to 1000/);
    assert.throws(() => limitSpecOf({ ...base, algorithm: 'fixed_window', limit: '1/s', burst: 3 }), /token_bucket only/);
  });

  it('reads the plan from the identity or its claims', () => {
    const id = { subject: 's', roles: [], scopes: [], method: 'api_key', claims: { plan: 'gold' } };
    assert.equal(planOf(id), 'gold');
    assert.equal(planOf({ ...id, plan: 'silver' } as typeof id), 'silver');
    assert.equal(planOf(undefined), undefined);
  });

  it('refuses a Redis URL with a literal password, naming the config path', async () => {
    const upstream = await startUpstream();
    try {
      await assert.rejects(
        startGateway(itemsConfig(upstream.url, { counters: { kind: 'redis', url: 'redis://:hunter2@127.0.0.1:6379' } }), { files: SPEC_FILES }),
        (error: Error) => /counters\.url/.test(error.message) && !error.message.includes('hunter2'),
      );
    } finally {
      await upstream.close();
    }
  });

  it('refuses a malformed limit at start-up, naming the config path', async () => {
    const upstream = await startUpstream();
    try {
      await assert.rejects(
        startGateway(itemsConfig(upstream.url, { api: { response: { mode: 'off' }, rate_limits: [{ name: 'bad', algorithm: 'fixed_window' }] } }), { files: SPEC_FILES }),
        /apis\[0\]\.rate_limits\[0\]: a fixed_window limit needs limit/,
      );
    } finally {
      await upstream.close();
    }
  });
});
