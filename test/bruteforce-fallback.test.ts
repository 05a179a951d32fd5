/**
 * Issue 11 (leftover of finding 11): the login brute-force stage falls back through the counters' shared path, like
 * rate limits and the authentication backoff. With Redis stalled (through a TCP proxy, never the shared Redis
 * itself): `failure: open` decides locally — counted in rampart_counter_fallback_total{limit="brute_force"},
 * logged (rate-limited), `counters: degraded` on /readyz, lockouts still enforced, and the request waits no longer
 * than one timeout in total even after a rate limit used it up; `failure: closed` answers 503 without reaching
 * the upstream and counts no local decision.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { assertProblem } from './helpers/http.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { loginSpec } from './helpers/login-spec.ts';

const REDIS = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const TIMEOUT_MS = 300;

const LOGIN_SPEC = loginSpec({ routes: [['/login', 'login'], ['/limited/login', 'limitedLogin']] });

async function fallbacks(gw: TestGateway, limit: string): Promise<number> {
  const metric = await gw.gateway.monitor.metrics.registry.getSingleMetric('rampart_counter_fallback_total')!.get();
  return metric.values.filter((v) => v.labels['limit'] === limit).reduce((sum, v) => sum + v.value, 0);
}

async function readiness(gw: TestGateway): Promise<Record<string, unknown>> {
  return (await (await fetch(`${gw.adminUrl}/readyz`)).json()) as Record<string, unknown>;
}

describe('brute-force protection while Redis stalls', () => {
  const prefix = `rampart_test_bf_${randomBytes(6).toString('hex')}:`;
  let upstream: TestUpstream;
  let proxy: TcpProxy;
  let open: TestGateway;
  let closed: TestGateway;

  const config = (failure: 'open' | 'closed') => ({
    trusted_proxies: ['127.0.0.1'],
    logging: { level: 'info', access_log: false },
    monitor: { enabled: false },
    // A breaker that never opens here: every call during the stall really waits for the timeout.
    counters: { kind: 'redis', url: `redis://127.0.0.1:${proxy.port}`, prefix: `${prefix}${failure}:`, timeout_ms: TIMEOUT_MS, breaker_failures: 1000 },
    upstreams: { main: { url: upstream.url } },
    apis: [
      {
        name: 'auth',
        spec: './login.yaml',
        upstream: 'main',
        validation: { additional_properties: 'allow' },
        response: { mode: 'off' },
        brute_force: { failure, account_key: '${env:BF_ACCOUNT_KEY}', max_failures_ip_account: 3, delay_after: 100 },
        rate_limits: [{ name: 'per-ip', key: 'ip', algorithm: 'fixed_window', limit: '1000/min', failure: 'open', operations: ['limitedLogin'] }],
      },
    ],
  });

  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (_req, res, body) => {
      const ok = (JSON.parse(body) as { password?: string }).password === 'right';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end('{}');
    };
    proxy = await startTcpProxy({ host: REDIS.hostname, port: Number(REDIS.port || 6379) });
    const env = { ...process.env, BF_ACCOUNT_KEY: randomBytes(16).toString('hex') };
    open = await startGateway(config('open'), { files: { 'login.yaml': LOGIN_SPEC }, env });
    closed = await startGateway(config('closed'), { files: { 'login.yaml': LOGIN_SPEC }, env });
  });
  after(async () => {
    await open?.close();
    await closed?.close();
    await proxy?.close();
    await upstream?.close();
    const redis = new Redis(REDIS.href);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const login = (gw: TestGateway, path: string, ip: string, username: string, password = 'wrong') =>
    send(gw.url, path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username, password }) });

  test('failure: open — decided locally, metered, logged, reported, lockouts kept, one timeout per request at most', async () => {
    // Redis answers: no fallback.
    assert.equal((await login(open, '/login', '198.51.100.1', 'warmup')).status, 401);
    assert.equal(await fallbacks(open, 'brute_force'), 0);
    assert.equal((await readiness(open))['counters'], 'ok');

    const stalled = proxy.stall(4000);
    const first = await login(open, '/login', '198.51.100.2', 'alice');
    assert.equal(first.status, 401, 'the attempt reached the login (fail open)');
    assert.equal(await fallbacks(open, 'brute_force'), 1);
    const warn = open.logs.filter((l) => l['msg'] === 'counter backend did not answer; fail-open limits decide locally on this instance’s share');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!['limit'], 'brute_force');
    assert.equal((await readiness(open))['counters'], 'degraded');

    // A rate limit on the same request spends the budget first; the brute-force reservation must not wait again.
    const started = performance.now();
    assert.equal((await login(open, '/limited/login', '198.51.100.3', 'bob')).status, 401);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < TIMEOUT_MS + 200, `one request waited ${elapsed.toFixed(0)} ms on Redis (budget ${TIMEOUT_MS} ms in total)`);
    assert.ok(elapsed >= TIMEOUT_MS - 20, `the first call did wait for the stalled Redis (${elapsed.toFixed(0)} ms)`);
    assert.equal(await fallbacks(open, 'brute_force'), 2);
    assert.ok((await fallbacks(open, 'per-ip')) >= 1);

    // Lockouts still hold on the local counters: the pair's fourth attempt is refused before the upstream.
    for (let i = 0; i < 2; i++) assert.equal((await login(open, '/login', '198.51.100.2', 'alice')).status, 401);
    const seen = upstream.seen.length;
    assertProblem(await login(open, '/login', '198.51.100.2', 'alice'), 429, 'account_locked');
    assert.equal(upstream.seen.length, seen, 'the locked attempt was not forwarded');
    assert.equal(open.logs.filter((l) => String(l['msg']).startsWith('counter backend did not answer')).length, 1, 'logged at most once per 10 s');
    await stalled;
  });

  test('failure: closed — 503 without reaching the upstream, within one timeout, and no local decision counted', async () => {
    const stalled = proxy.stall(2000);
    const seen = upstream.seen.length;
    const started = performance.now();
    const res = await login(closed, '/login', '198.51.100.9', 'carol');
    const elapsed = performance.now() - started;
    assertProblem(res, 503, 'service_unavailable');
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(upstream.seen.length, seen);
    assert.ok(elapsed < TIMEOUT_MS + 200, `${elapsed.toFixed(0)} ms`);
    assert.equal(await fallbacks(closed, 'brute_force'), 0);
    await stalled;
  });
});
