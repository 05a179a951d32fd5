/**
 * Short Redis stalls under two gateway instances: with three 80 ms stalls (each longer than the 50 ms timeout, so
 * calls time out, the circuit breaker opens and every instance counts alone for a second), the two instances
 * together still admit no more than 1% over a 500/s limit, because each counts locally only up to its share
 * (limit / 2) and continues from what it already admitted. Every local decision is counted in
 * rampart_counter_fallback_total, logged (rate-limited) and reported on /readyz.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { itemsConfig, SPEC_FILES } from '../helpers/gateway-fixtures.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const REDIS = new URL(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const LIMIT = 500;
const WINDOWS = 3;
/** Offered load, requests per second over both instances: well above the limit, so the limit is what admits. */
const RATE = 650;
/** Stall start times, ms into the run: each after the previous fallback second is over, so each one bites. */
const STALLS = [200, 1300, 2400];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fallbacks(gw: TestGateway): Promise<number> {
  const metric = await gw.gateway.monitor!.metrics.registry.getSingleMetric('rampart_counter_fallback_total')!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe('two gateway instances on one Redis with three 80 ms Redis stalls', () => {
  const prefix = `rampart_test_stall_${randomBytes(6).toString('hex')}:`;
  let upstream: TestUpstream;
  let proxy: TcpProxy;
  const gateways: TestGateway[] = [];
  const agent = new Agent({ connections: 128 });

  before(async () => {
    upstream = await startUpstream();
    proxy = await startTcpProxy({ host: REDIS.hostname, port: Number(REDIS.port || 6379) });
    const config = itemsConfig(upstream.url, {
      logging: { level: 'info', access_log: false },
      monitor: { enabled: false },
      counters: { kind: 'redis', url: `redis://127.0.0.1:${proxy.port}`, prefix, timeout_ms: 50 },
      api: {
        response: { mode: 'off' },
        rate_limits: [
          { name: 'shared', key: 'header:x-run', algorithm: 'sliding_window', limit: `${LIMIT}/s`, failure: 'open', operations: ['listItems'] },
          { name: 'warm', key: 'route', algorithm: 'fixed_window', limit: '100000/min', operations: ['getItem'] },
        ],
      },
    });
    for (let i = 0; i < 2; i++) gateways.push(await startGateway(config, { files: SPEC_FILES }));
  });
  after(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await agent.close();
    await proxy?.close();
    await upstream?.close();
    const redis = new Redis(REDIS.href);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  /** One run over WINDOWS aligned windows with the stalls, on its own counter key (header `x-run`). */
  async function run(id: string): Promise<{ sent: number; admitted: number; statuses: Map<number, number>; perWindow: { sent: number; admitted: number }[]; ready: Promise<{ status: number; body: Record<string, unknown> }> }> {
    // No request is sent before the first window or in the last 150 ms (so a busy event loop cannot push a decision
    // into the window after the run).
    const t0 = Math.ceil((Date.now() + 300) / 1000) * 1000;
    await sleep(t0 - Date.now());
    const stop = t0 + WINDOWS * 1000 - 150;
    const statuses = new Map<number, number>();
    const perWindow = Array.from({ length: WINDOWS }, () => ({ sent: 0, admitted: 0 }));
    let sent = 0;
    let inFlight = 0;
    const pending: Promise<void>[] = [];
    const stalls = STALLS.map((at) => sleep(t0 + at - Date.now()).then(() => proxy.stall(80)));
    const ready = sleep(t0 + STALLS[0]! + 120 - Date.now()).then(() =>
      fetch(`${gateways[0]!.adminUrl}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> })),
    );
    while (Date.now() < stop) {
      const due = Math.floor(((Date.now() - t0) * RATE) / 1000);
      // Bounded: never more than 300 requests in flight (a stall holds at most RATE × 0.08 s of them).
      while (sent < due && inFlight < 300) {
        const window = Math.floor((Date.now() - t0) / 1000);
        const gw = gateways[sent % 2]!;
        sent++;
        inFlight++;
        perWindow[window]!.sent++;
        pending.push(
          request(`${gw.url}/items`, { headers: { 'x-run': id }, dispatcher: agent })
            .then(async (res) => {
              await res.body.dump();
              statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
              if (res.statusCode === 200) perWindow[window]!.admitted++;
            })
            .finally(() => inFlight--),
        );
      }
      await sleep(2);
    }
    await Promise.all(pending);
    await Promise.all(stalls);
    return { sent, admitted: statuses.get(200) ?? 0, statuses, perWindow, ready };
  }

  it(`admit at most ${LIMIT}/s × ${WINDOWS} s + 1%, and count, log and report every fallback`, async (t) => {
    // Warm up on another route until each instance has seen the other's heartbeat.
    for (let i = 0; i < 50 && gateways.some((g) => g.gateway.services.counters!.instances < 2); i++) {
      await Promise.all(gateways.map((g) => fetch(`${g.url}/items/1`).then((r) => r.arrayBuffer())));
      await sleep(50);
    }
    assert.deepEqual(gateways.map((g) => g.gateway.services.counters!.instances), [2, 2], 'both instances learned there are two');

    // The limit must be what decides: the offered load well above it, refusals in every window. A machine too busy
    // to offer that load gets two more tries (bounded: about 4 s each) before the test fails.
    let result = await run('a');
    const loaded = (r: typeof result) => r.sent > LIMIT * WINDOWS * 1.15 && r.perWindow.every((w) => w.admitted < w.sent);
    for (const id of ['b', 'c']) {
      if (loaded(result)) break;
      t.diagnostic(`load too low (${result.sent} sent), again`);
      result = await run(id);
    }
    const { sent, admitted, statuses, perWindow } = result;
    const detail = JSON.stringify({ statuses: [...statuses], perWindow });
    assert.equal(admitted + (statuses.get(429) ?? 0), sent, `only 200 and 429: ${detail}`);
    assert.ok(admitted <= LIMIT * WINDOWS * 1.01, `admitted ${admitted} for ${LIMIT * WINDOWS} (${((admitted / (LIMIT * WINDOWS) - 1) * 100).toFixed(1)}%): ${detail}`);
    assert.ok(loaded(result), `offered load well above the limit, refused in every window: ${detail}`);
    // Erring low is the safe side (timed-out calls still count in Redis once it answers); this only catches a
    // fallback that starves, e.g. a share applied twice.
    assert.ok(admitted >= LIMIT * WINDOWS * 0.6, `and not starved by the fallback either: ${detail}`);

    const counted = await Promise.all(gateways.map(fallbacks));
    t.diagnostic(`admitted ${admitted} of ${LIMIT * WINDOWS}; fallback decisions per instance ${counted.join(', ')}; ${detail}`);
    assert.ok(counted.every((n) => n > 0), `each instance counted its fallback decisions: ${counted.join(', ')}`);
    const ready = await result.ready;
    assert.equal(ready.status, 200, 'degraded counters do not fail readiness');
    assert.equal(ready.body['counters'], 'degraded', 'readiness reports the degraded counters');
    for (const gw of gateways) {
      const warnings = gw.logs.filter((l) => String(l['msg']).startsWith('counter backend did not answer'));
      // Rate-limited: one line per 10 s however many decisions fell back (hundreds here).
      assert.equal(warnings.length, 1, `one fallback warning per instance in a 3 s run, got ${warnings.length}`);
      assert.ok(Number(warnings[0]!['fallbacks']) >= 1);
    }
  });
});
