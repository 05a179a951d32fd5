/**
 * One counter wait budget per request: with Redis stalled (a loopback TCP proxy holding its replies) and the
 * breaker kept closed, a request on an API with `auth` and fail-open limits before and after authentication waits
 * on counters for at most `timeout_ms` in total — not once per call (pre-auth limit, lockout lookup, post-auth
 * limit). A request without a credential makes no lockout lookup at all. Every local decision is counted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_TOKEN, KEYS_SPEC, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const REDIS = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const TIMEOUT_MS = 300;

describe('per-request counter wait budget with a stalled Redis', () => {
  const prefix = `rampart_test_budget_${randomBytes(6).toString('hex')}:`;
  let upstream: TestUpstream;
  let proxy: TcpProxy;
  let gw: TestGateway;
  let key = '';

  before(async () => {
    upstream = await startUpstream();
    proxy = await startTcpProxy({ host: REDIS.hostname, port: Number(REDIS.port || 6379) });
    const config = keysConfig(upstream.url, {
      monitor: { enabled: false },
      // A breaker that never opens: every call waits for the full timeout, the worst case for the budget.
      counters: { kind: 'redis', url: `redis://127.0.0.1:${proxy.port}`, prefix, timeout_ms: TIMEOUT_MS, breaker_failures: 1000 },
    });
    const api = (config['apis'] as Record<string, unknown>[])[0]!;
    api['rate_limits'] = [
      { name: 'per-ip', key: 'ip', limit: '1000/min', failure: 'open' },
      { name: 'per-consumer', key: 'consumer', limit: '1000/min', failure: 'open' },
    ];
    gw = await startGateway(config, { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-budget', name: 'Budget' })).status, 201);
    key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-budget' })).json['key']);
    // Redis answering: both routes served, counted in Redis.
    assert.equal((await send(gw.url, '/public')).status, 200);
    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': key } })).status, 200);
  });
  after(async () => {
    await gw?.close();
    await proxy?.close();
    await upstream?.close();
    const redis = new Redis(REDIS.href);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const fallbacks = async (): Promise<Record<string, number>> => {
    const metric = await gw.gateway.monitor!.metrics.registry.getSingleMetric('rampart_counter_fallback_total')!.get();
    const out: Record<string, number> = {};
    for (const v of metric.values) out[`${v.labels['limit']}/${v.labels['reason']}`] = v.value;
    return out;
  };

  it(`waits at most timeout_ms (${TIMEOUT_MS} ms) in total on counters, and looks up lockouts only for credentials`, async () => {
    void proxy.stall(10_000);
    // Bounded, not a performance claim: three sequential calls would take 3 × TIMEOUT_MS; one budget takes ~1 ×.
    const bound = TIMEOUT_MS * 1.8;

    let started = performance.now();
    const anonymous = await send(gw.url, '/public', { timeoutMs: 5000 });
    const anonymousMs = performance.now() - started;
    assert.equal(anonymous.status, 200, 'fail-open limits admit locally');
    assert.ok(anonymousMs < bound, `public request without a credential waited ${anonymousMs.toFixed(0)} ms (bound ${bound})`);
    const afterAnonymous = await fallbacks();
    assert.equal(afterAnonymous['per-ip/timeout'], 1, `the first call waited for the timeout: ${JSON.stringify(afterAnonymous)}`);
    assert.equal(afterAnonymous['per-consumer/budget'], 1, `the second found the budget used up: ${JSON.stringify(afterAnonymous)}`);
    assert.ok(!Object.keys(afterAnonymous).some((k) => k.startsWith('failure_backoff/')), 'no lockout lookup without a credential');

    started = performance.now();
    const keyed = await send(gw.url, '/items', { headers: { 'x-api-key': key }, timeoutMs: 5000 });
    const keyedMs = performance.now() - started;
    assert.equal(keyed.status, 200);
    assert.ok(keyedMs < bound, `request with an API key waited ${keyedMs.toFixed(0)} ms (bound ${bound})`);
    const afterKeyed = await fallbacks();
    // The lockout lookups (IP and key id, in parallel) ran, within what was left of the budget: none.
    assert.equal(afterKeyed['failure_backoff/budget'], 2, `lockout lookups fell back on the spent budget: ${JSON.stringify(afterKeyed)}`);
    assert.equal(afterKeyed['per-consumer/budget'], 2);
  });
});
