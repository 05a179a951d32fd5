/**
 * Rate limits across instances and through Redis failures: two real gateway processes sharing one Redis admit
 * within 1% of the limit; a Redis killed mid-run makes fail-closed limits deny and fail-open limits fall back
 * without any request hanging, and shared counting resumes when Redis is back.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { READ_TOKEN, TEST_ENV } from './helpers/apikeys.ts';
import { itemsConfig, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { freePort } from './helpers/ports.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;


/**
 * Starts `rampart start -c <config>` as a child process on free ports picked here (the gateway buffers its stdout,
 * so readiness is polled on the admin listener's /readyz). Resolves with the data-plane URL.
 */
async function startProcess(dir: string, config: Record<string, unknown>, name: string, children: ChildProcess[]): Promise<{ child: ChildProcess; url: string }> {
  const [http, admin] = [await freePort(), await freePort()];
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ ...config, listen: { http: { port: http, host: '127.0.0.1', insecure: true }, admin: { port: admin, host: '127.0.0.1' } } }));
  const child = spawn(process.execPath, [MAIN, 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Registered at once, so `after` stops it even when its sibling fails to start.
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    const ready = await fetch(`http://127.0.0.1:${admin}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) return { child, url: `http://127.0.0.1:${http}` };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`gateway process did not become ready: ${stderr}`);
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Sends `total` requests spread over `urls` with at most `concurrency` in flight; returns the status counts. */
async function load(urls: readonly string[], path: string, total: number, concurrency: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const res = await fetch(urls[i % urls.length]! + path);
      await res.arrayBuffer();
      counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

describe('two gateway processes sharing Redis', () => {
  const prefix = `rampart_test_${randomBytes(6).toString('hex')}:`;
  let upstream: TestUpstream;
  const children: ChildProcess[] = [];
  let urls: string[] = [];
  before(async () => {
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'rampart-cluster-'));
    writeFileSync(join(dir, 'items.yaml'), SPEC_FILES['items.yaml']);
    const config = {
      logging: { level: 'info', access_log: false },
      // The anomaly detectors would (rightly) block a client sending 600 requests a second; not under test here.
      monitor: { enabled: false },
      counters: { kind: 'redis', url: REDIS_URL, prefix, timeout_ms: 500 },
      ...itemsConfig(upstream.url, {
        api: {
          response: { mode: 'off' },
          rate_limits: [
            { name: 'bucket', key: 'route', algorithm: 'token_bucket', rate: '1/hour', burst: 300, operations: ['listItems'] },
            { name: 'sliding', key: 'route', algorithm: 'sliding_window', limit: '300/hour', operations: ['getItem'] },
          ],
        },
      }),
    };
    const started = await Promise.all([startProcess(dir, config, 'a', children), startProcess(dir, config, 'b', children)]);
    urls = started.map((s) => s.url);
  });
  after(async () => {
    await Promise.all(children.map(stopProcess));
    await upstream?.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  for (const [operation, path] of [
    ['token bucket', '/items'],
    ['sliding window', '/items/1'],
  ] as const) {
    it(`${operation}: admits within 1% of the limit under concurrent load on both instances`, async () => {
      const counts = await load(urls, path, 600, 40);
      const admitted = counts.get(200) ?? 0;
      assert.ok(Math.abs(admitted - 300) <= 3, `admitted ${admitted} of a 300 limit: ${JSON.stringify([...counts])}`);
      assert.equal(admitted + (counts.get(429) ?? 0), 600, `only 200 and 429: ${JSON.stringify([...counts])}`);
    });
  }
});

describe('Redis killed mid-run and restarted', () => {
  let port: number;
  let redisServer: ChildProcess | undefined;
  let upstream: TestUpstream;
  let gw: TestGateway;

  const startRedis = async () => {
    redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('redis-server did not start');
  };
  const killRedis = () =>
    new Promise<void>((resolve) => {
      redisServer!.once('exit', () => resolve());
      redisServer!.kill('SIGKILL');
    });

  before(async () => {
    port = await freePort();
    await startRedis();
    upstream = await startUpstream();
    gw = await startGateway(
      itemsConfig(upstream.url, {
        counters: { kind: 'redis', url: `redis://127.0.0.1:${port}`, timeout_ms: 50, breaker_failures: 2, breaker_cooldown_ms: 100 },
        api: {
          response: { mode: 'off' },
          rate_limits: [
            { name: 'open', key: 'ip', algorithm: 'fixed_window', limit: '5/hour', failure: 'open', operations: ['listItems'] },
            { name: 'closed', key: 'ip', algorithm: 'fixed_window', limit: '1000/hour', failure: 'closed', operations: ['getItem'] },
          ],
        },
        admin: { tokens: [{ name: 'auditor', token: '${env:T_READ}', role: 'read_only' }] },
      }),
      { files: SPEC_FILES, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    if (redisServer && redisServer.exitCode === null) await killRedis();
  });

  it('fail-closed denies, fail-open falls back, nothing hangs; shared counting resumes when Redis is back', async () => {
    assert.equal((await send(gw.url, '/items/1')).status, 200);
    assert.equal((await send(gw.url, '/items')).status, 200);
    await killRedis();

    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await send(gw.url, '/items/1', { timeoutMs: 5000 });
      assert.equal(res.status, 503, 'fail-closed limit denies while Redis is down');
      // Bounded, not measured: the Redis timeout is 50 ms; the generous bound only catches a hang.
      assert.ok(Date.now() - started < 2000, 'no request waits on a dead Redis');
    }
    const open = [];
    for (let i = 0; i < 6; i++) open.push((await send(gw.url, '/items', { timeoutMs: 5000 })).status);
    // The request admitted through Redis before the kill was counted locally too, so the fallback continues from it.
    assert.deepEqual(open, [200, 200, 200, 200, 429, 429], 'fail-open limit counts locally (5/hour, one already used) while Redis is down');

    await startRedis();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await send(gw.url, '/items/1')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'fail-closed limit admits again once Redis is back');
    // Shared counting again: the fixed-window counter of the open limit lives in the (new, empty) Redis. The new
    // Redis does not know the 5 admitted locally this hour, so the key must still pass the local count too: 429.
    assert.equal((await send(gw.url, '/items')).status, 429, 'requests admitted during the outage still count');
    const listed = (await (await fetch(`${gw.adminUrl}/admin/v1/ratelimit/counters?prefix=rl:items:open`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json()) as { backend: string; items: unknown[] };
    assert.equal(listed.backend, 'redis');
    assert.equal(listed.items.length, 1);
  });
});
