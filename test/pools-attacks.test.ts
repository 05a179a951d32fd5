/**
 * Red-team pass over upstream pools (balancer, health checks, outlier ejection, retries), the admin list envelope
 * and paging, and `rampart apply` with keys / PATCH /admin/v1/keys. A test preceded by `// Found by a red-team
 * pass:` pins the fix of a weakness that pass found (the comment says what used to happen); the others pin things
 * that held up. Loopback only; every loop is bounded in count and time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse, stringify } from 'yaml';
import type { Pool } from 'undici';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { eventually, itemsConfig, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, READ_TOKEN, TEST_ENV, KEYS_SPEC, adminCall, keysConfig } from './helpers/apikeys.ts';
import { UpstreamPools } from '../src/proxy/pools.ts';
import { Balancer, type Target } from '../src/proxy/balancer/balancer.ts';
import { RetryBudget } from '../src/proxy/balancer/retry.ts';
import { checkUpstreamTargets } from '../src/proxy/balancer/schema.ts';
import type { UpstreamConfig } from '../src/config/types.ts';
import { MemoryCounter, type Counters } from '../src/counters/index.ts';
import { rateLimitAdminRoutes } from '../src/admin/ratelimit.ts';
import { pageInMemory } from '../src/admin/paging.ts';
import { openDb } from '../src/audit/db.ts';
import { IncidentStore, type Incident } from '../src/monitor/incidents.ts';
import { Keyring } from '../src/store/encryption/keyring.ts';
import { registerMonitorRoutes } from '../src/monitor/admin.ts';
import type { Monitor } from '../src/monitor/monitor.ts';
import type { AdminHandler, AdminServer } from '../src/admin/server.ts';
import { GatewayError } from '../src/problem.ts';
import { runApply } from '../src/cli/apply.ts';
import { planKeys } from '../src/cli/apply-plan.ts';
import type { ApiKeyRecord } from '../src/store/types.ts';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const RETRIES = { attempts: 1, on_status: [502, 503, 504], budget_ratio: 0.2, min_per_second: 3, backoff_ms: 25, max_backoff_ms: 250 };

/** A full UpstreamConfig (as the loader would give it) for direct use of UpstreamPools / Balancer. */
function upstreamConfig(targets: { url: string; weight?: number }[], extra: Record<string, unknown> = {}): UpstreamConfig {
  return {
    targets: targets.map((t) => ({ url: t.url, weight: t.weight ?? 1 })),
    balance: 'round_robin',
    outlier: { consecutive_failures: 3, ejection_ms: 5000, max_ejection_ms: 120_000 },
    retries: RETRIES,
    connect_timeout_ms: 1000,
    headers_timeout_ms: 1000,
    body_timeout_ms: 1000,
    connections: 4,
    keep_alive_timeout_ms: 1000,
    ...extra,
  } as unknown as UpstreamConfig;
}

/** A bare loopback server counting health probes (GET /health) and answering everything else 200. */
async function probeCounter(): Promise<{ url: string; probes: () => number; close(): Promise<void> }> {
  let probes = 0;
  const server = createServer((req, res) => {
    if (req.url === '/health') probes++;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    probes: () => probes,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function metricValue(gw: TestGateway, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** Rewrites the gateway's config file through `change` and reloads it. */
async function reloadWith(gw: TestGateway, change: (config: Record<string, unknown>) => void): Promise<void> {
  const config = parse(readFileSync(gw.configFile, 'utf8')) as Record<string, unknown>;
  change(config);
  writeFileSync(gw.configFile, stringify(config));
  assert.equal(await gw.gateway.reload(), true, 'reload applied');
}

/** Opens a chunked request and sends `first`; returns a function that sends the rest and resolves with the status. */
function openChunked(base: string, method: string, path: string, first: string, headers: Record<string, string> = {}): { finish(rest: string): Promise<number>; abort(): void } {
  const url = new URL(base);
  let resolveStatus!: (s: number) => void;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const req = httpRequest({ host: url.hostname, port: url.port, method, path, agent: false, headers: { 'transfer-encoding': 'chunked', ...headers } });
  req.on('response', (res) => {
    res.resume();
    res.on('end', () => resolveStatus(res.statusCode ?? 0));
  });
  req.on('error', () => resolveStatus(0));
  req.write(first);
  return {
    finish: (rest: string) => {
      req.end(rest);
      return status;
    },
    abort: () => req.destroy(),
  };
}

describe('upstream pools: reload, close and the pools map', () => {
  let counter: Awaited<ReturnType<typeof probeCounter>>;
  before(async () => {
    counter = await probeCounter();
  });
  after(async () => {
    await counter?.close();
  });

  // Found by a red-team pass: upstream() created an entry for any (name, config) it was handed, so a request that
  // began before a reload which removed an upstream re-created it (pools and a health checker probing a target no
  // longer configured, reported as live in targetStates()) until the next sync.
  test('a request of the previous table cannot re-create a removed upstream: it is refused 503', async () => {
    const pools = new UpstreamPools();
    const cfg = upstreamConfig([{ url: counter.url }], { health_check: { path: '/health', interval_ms: 50, timeout_ms: 200, healthy_threshold: 1, unhealthy_threshold: 1 } });
    try {
      pools.sync({ svc: cfg });
      assert.ok(await eventually(() => counter.probes() >= 2, 2000));
      pools.sync({});
      await sleep(120);
      const afterRemoval = counter.probes();
      await sleep(250);
      assert.equal(counter.probes(), afterRemoval, 'removal stops the health checks (held up)');
      assert.deepEqual(pools.targetStates(), []);

      // What a request of the old route table does when it reaches the proxy:
      assert.throws(() => pools.upstream('svc', cfg), (e: unknown) => e instanceof GatewayError && e.code === 'upstream_unavailable' && e.status === 503);
      const refused = counter.probes();
      await sleep(300);
      assert.equal(counter.probes(), refused, 'no health checks of the removed upstream');
      assert.deepEqual(pools.targetStates(), [], 'and it is not reported as a live upstream');
    } finally {
      await pools.close();
    }
  });

  // Found by a red-team pass: UpstreamPools had no closed state, so upstream() after close() (a request cut at the
  // drain deadline still running its stages) built new pools and a health checker that nothing stopped.
  test('upstream() after close() throws and starts neither pools nor health checks', async () => {
    const pools = new UpstreamPools();
    const cfg = upstreamConfig([{ url: counter.url }], { health_check: { path: '/health', interval_ms: 50, timeout_ms: 200, healthy_threshold: 1, unhealthy_threshold: 1 } });
    pools.sync({ svc: cfg });
    await pools.close();
    const closedAt = counter.probes();
    try {
      assert.throws(() => pools.upstream('svc', cfg), (e: unknown) => e instanceof GatewayError && e.code === 'upstream_unavailable');
      pools.sync({ svc: cfg });
      await sleep(300);
      assert.equal(counter.probes(), closedAt, 'a closed UpstreamPools never probes again (nor does a late sync)');
      assert.deepEqual(pools.targetStates(), []);
    } finally {
      await pools.close();
    }
  });

  test('held up: reloads that keep changing the targets leave no health checker behind (no old-table requests)', async () => {
    const members = await Promise.all([probeCounter(), probeCounter(), probeCounter()]);
    const pools = new UpstreamPools();
    const hc = { path: '/health', interval_ms: 40, timeout_ms: 200, healthy_threshold: 1, unhealthy_threshold: 1 };
    try {
      for (let i = 0; i < 12; i++) pools.sync({ svc: upstreamConfig([{ url: members[i % 3]!.url }, { url: members[(i + 1) % 3]!.url }], { health_check: hc }) });
      pools.sync({ svc: upstreamConfig([{ url: members[0]!.url }], { health_check: hc }) });
      await sleep(150);
      const before = members.map((m) => m.probes());
      await sleep(300);
      const delta = members.map((m, i) => m.probes() - before[i]!);
      assert.ok(delta[0]! >= 3 && delta[0]! <= 12, `the current target is probed at its interval (${delta[0]})`);
      assert.deepEqual(delta.slice(1), [0, 0], 'targets no longer configured are not probed');
    } finally {
      await pools.close();
      await Promise.all(members.map((m) => m.close()));
    }
  });
});

describe('upstream pools through a gateway', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  const probesOf = (u: TestUpstream) => u.seen.filter((r) => r.url === '/health').length;

  // Found by a red-team pass: a request that began before a reload (a POST whose body was still being buffered)
  // rebuilt the upstream with the OLD config when it reached the proxy, and the next new-table request rebuilt it
  // again: pools, health, ejections and the retry budget reset each time (one immediate probe per rebuild).
  test('an old-table request after a reload is served by the current upstream entry: no rebuild', async () => {
    const gw = await startGateway(itemsConfig(a.url, { upstream: { health_check: { path: '/health', interval_ms: 300_000, timeout_ms: 1000 } }, monitor: { enabled: false }, logging: { access_log: false } }), { files: SPEC_FILES });
    try {
      assert.ok(await eventually(() => probesOf(a) === 1, 2000), 'start: one entry, one probe');
      const slow = openChunked(gw.url, 'POST', '/items', '{"a":', { 'content-type': 'application/json' });
      await sleep(150);
      await reloadWith(gw, (c) => {
        ((c['upstreams'] as Record<string, Record<string, unknown>>)['main']!)['retries'] = { attempts: 2 };
      });
      assert.ok(await eventually(() => probesOf(a) === 2, 2000), 'the reload rebuilt the upstream (expected)');
      assert.equal((await send(gw.url, '/items/1')).status, 200);
      await sleep(100);
      assert.equal(probesOf(a), 2, 'a new-table request reuses it');
      assert.equal(await slow.finish('1}'), 200, 'the old-table request is served');
      assert.equal((await send(gw.url, '/items/1')).status, 200);
      await sleep(300);
      assert.equal(probesOf(a), 2, 'neither the old-table request nor the next new-table one rebuilt the upstream');
    } finally {
      await gw.close();
    }
  });
});

/** A passthrough API with the WAF off: request and response bodies stream (the WAF buffers them otherwise). */
const STREAMING_API = { name: 'p', passthrough: true, upstream: 'svc', waf: { enabled: false } };

describe('outlier ejection, health checks and in-flight accounting through a gateway', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  const pool = (upstream: Record<string, unknown>, api: Record<string, unknown> = { name: 'p', passthrough: true, upstream: 'svc' }) => ({
    monitor: { enabled: false },
    admin: ADMIN_CONFIG,
    logging: { access_log: false },
    upstreams: { svc: { targets: [{ url: a.url }, { url: b.url }], ...upstream } },
    apis: [api],
  });

  // Found by a red-team pass: passive health could eject EVERY target, so three client GETs of one path answering
  // 503 took the whole upstream out: every other path answered 503 upstream_unavailable for ejection_ms even while
  // the targets passed their health checks. The last target in rotation is now never ejected.
  test('GETs of one failing path never take the whole upstream out: the last target stays in rotation', async () => {
    const fail503 = (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/boom')) res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    a.handler = fail503;
    b.handler = fail503;
    const gw = await startGateway(pool({ health_check: { path: '/health', interval_ms: 100, timeout_ms: 500 } }), { env: TEST_ENV });
    try {
      assert.equal((await send(gw.url, '/items')).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await send(gw.url, '/boom')).status, 503);
      const ejected = gw.logs.filter((l) => l['msg'] === 'upstream target ejected after failures').map((l) => l['target']);
      assert.ok(new Set(ejected).size <= 1, `at most one target ejected (${ejected.join(',')})`);
      await sleep(300); // several passing health checks meanwhile
      for (let i = 0; i < 4; i++) assert.equal((await send(gw.url, '/items')).status, 200, 'an unrelated, healthy path is served');
      const inRotation = await Promise.all([a.port, b.port].map((port) => metricValue(gw, 'rampart_upstream_target_in_rotation', `target="127.0.0.1:${port}"`)));
      assert.ok(inRotation.includes(1), `a target is in rotation (${inRotation.join(',')})`);
    } finally {
      await gw.close();
      a.handler = undefined;
      b.handler = undefined;
    }
  });

  // Found by a red-team pass: any GatewayError from forward() counted as a target failure, including the gateway's
  // own response buffer cap, so six client GETs of a large resource on a buffered route ejected both targets.
  test('responses over the gateway\'s buffer cap are 502 but eject no target', async () => {
    const big = `{"x":"${'a'.repeat(9 * 1024 * 1024)}"}`;
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/items/big') res.writeHead(200, { 'content-type': 'application/json' }).end(big);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    };
    a.handler = handler;
    b.handler = handler;
    const gw = await startGateway(pool({}, { name: 'items', spec: './items.yaml', upstream: 'svc' }), { env: TEST_ENV, files: SPEC_FILES });
    try {
      assert.equal((await send(gw.url, '/items/1')).status, 200);
      for (let i = 0; i < 6; i++) assert.equal((await send(gw.url, '/items/big')).status, 502);
      assert.equal(gw.logs.filter((l) => l['msg'] === 'upstream target ejected after failures').length, 0, 'no ejection');
      for (let i = 0; i < 2; i++) assert.equal((await send(gw.url, '/items/1')).status, 200, 'the API is still served');
    } finally {
      await gw.close();
      a.handler = undefined;
      b.handler = undefined;
    }
  });

  // Found by a red-team pass: health probes were queued in the target's TRAFFIC pool, so while traffic held every
  // connection of a wedged instance (accepts, never answers) no probe left the queue and the instance stayed in
  // rotation until traffic requests timed out one by one. Probes now have their own connection per target.
  test('a wedged target whose traffic pool is full is found unhealthy by its probes', async () => {
    const held: ServerResponse[] = [];
    const hc = { path: '/health', interval_ms: 100, timeout_ms: 150, unhealthy_threshold: 2, healthy_threshold: 1 };
    const run = async (connections: number): Promise<{ inRotation: number | undefined; probes: number; logged: boolean }> => {
      a.handler = undefined;
      const gw = await startGateway({ ...pool({}, STREAMING_API), upstreams: { svc: { url: a.url, connections, headers_timeout_ms: 4000, health_check: hc } } }, { env: TEST_ENV });
      try {
        assert.equal((await send(gw.url, '/items')).status, 200);
        a.handler = (_req, res) => void held.push(res); // wedged: accepts and reads, never answers
        const traffic = send(gw.url, '/items', { timeoutMs: 6000 }).catch(() => undefined); // one request in flight
        await sleep(150);
        const probesBefore = a.seen.filter((r) => r.url === '/health').length;
        await sleep(1200);
        const result = {
          inRotation: await metricValue(gw, 'rampart_upstream_target_in_rotation', `target="127.0.0.1:${a.port}"`),
          probes: a.seen.filter((r) => r.url === '/health').length - probesBefore,
          logged: gw.logs.some((l) => l['msg'] === 'upstream target failed its health checks; out of rotation'),
        };
        a.handler = undefined;
        for (const res of held.splice(0)) res.destroy();
        await traffic;
        return result;
      } finally {
        await gw.close();
        a.handler = undefined;
      }
    };
    const full = await run(1);
    assert.ok(full.probes >= 1, `traffic pool full: probes still reach the wedged target (${full.probes})`);
    assert.equal(full.logged, true, 'the wedge is found');
    assert.equal(full.inRotation, 0, 'and the target is out of rotation');
  });

  // Found by a red-team pass: a request counted in flight only until its response HEADERS arrived, so streaming
  // bodies were invisible to least_requests and rampart_upstream_target_in_flight read 0 while they streamed.
  test('in-flight counts last until the response stream closes: least_requests steers around long streams', async () => {
    const streams: ServerResponse[] = [];
    a.handler = (req, res) => {
      if (req.url === '/stream') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first chunk\n');
        streams.push(res);
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"a"}');
    };
    b.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"from":"b"}');
    const gw = await startGateway(pool({ balance: 'least_requests' }, STREAMING_API), { env: TEST_ENV });
    const clients: { abort(): void }[] = [];
    try {
      // Streams opened on target a (pinned to a by path: b answers them at once); once one is open on a,
      // least_requests sends the rest to b.
      for (let i = 0; i < 4; i++) {
        const url = new URL(gw.url);
        const req = httpRequest({ host: url.hostname, port: url.port, path: '/stream', agent: false });
        req.on('response', (r) => r.resume());
        req.on('error', () => undefined);
        req.end();
        clients.push({ abort: () => req.destroy() });
        await sleep(60);
      }
      assert.ok(streams.length >= 1, `a stream is open on a (${streams.length})`);
      assert.equal(await metricValue(gw, 'rampart_upstream_target_in_flight', `target="127.0.0.1:${a.port}"`), streams.length, 'streaming responses are in flight');
      const from: string[] = [];
      for (let i = 0; i < 10; i++) from.push(JSON.parse((await send(gw.url, '/who')).body).from as string);
      assert.equal(from.filter((f) => f === 'a').length, 0, `the target with open streams gets none (${from.join(',')})`);
      for (const s of streams.splice(0)) s.end();
      assert.ok(await eventually(async () => (await metricValue(gw, 'rampart_upstream_target_in_flight', `target="127.0.0.1:${a.port}"`)) === 0, 2000), 'back to 0 once the streams close');
    } finally {
      for (const s of streams) s.destroy();
      for (const c of clients) c.abort();
      await gw.close();
      a.handler = undefined;
      b.handler = undefined;
    }
  });

  test('held up: inFlight returns to 0 after refusals, resets, timeouts and client aborts', async () => {
    a.handler = (req, res) => {
      if (req.url === '/reset') res.socket?.destroy();
      else if (req.url === '/hang') setTimeout(() => res.writeHead(200).end('late'), 2500);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    };
    const gw = await startGateway(
      { ...pool({}), upstreams: { svc: { targets: [{ url: a.url }, { url: 'http://127.0.0.1:9' }], headers_timeout_ms: 1000, outlier: { consecutive_failures: 1000 } } } },
      { env: TEST_ENV },
    );
    try {
      for (let i = 0; i < 4; i++) await send(gw.url, '/items');
      for (let i = 0; i < 3; i++) await send(gw.url, '/reset');
      assert.equal((await send(gw.url, '/hang')).status, 504);
      for (let i = 0; i < 3; i++) await send(gw.url, '/hang', { timeoutMs: 50 }).catch(() => undefined);
      await sleep(300);
      for (const port of [a.port, 9]) assert.equal(await metricValue(gw, 'rampart_upstream_target_in_flight', `target="127.0.0.1:${port}"`), 0);
    } finally {
      await gw.close();
      a.handler = undefined;
    }
  });
});

describe('retries through a gateway', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });
  const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const pool = (upstream: Record<string, unknown>, api: Record<string, unknown> = { name: 'p', passthrough: true, upstream: 'svc' }, extra: Record<string, unknown> = {}) => ({
    monitor: { enabled: false },
    admin: ADMIN_CONFIG,
    logging: { access_log: false },
    upstreams: { svc: { targets: [{ url: a.url }, { url: b.url }], outlier: { consecutive_failures: 1000 }, ...upstream } },
    apis: [api],
    ...extra,
  });

  test('held up: PATCH, POST and a streamed PUT are sent once, whatever the failure', async () => {
    let calls = 0;
    const fail = (req: IncomingMessage, res: ServerResponse) => {
      calls++;
      if (req.url === '/reset') res.socket?.destroy();
      else json(res, 503, {});
    };
    a.handler = fail;
    b.handler = fail;
    const gw = await startGateway(pool({ retries: { attempts: 5, min_per_second: 100, backoff_ms: 1 } }, STREAMING_API), { env: TEST_ENV });
    try {
      const jsonHeaders = { 'content-type': 'application/json' };
      for (const [method, path] of [['PATCH', '/x'], ['POST', '/x'], ['PATCH', '/reset'], ['POST', '/reset']] as const) {
        calls = 0;
        const res = await send(gw.url, path, { method, headers: jsonHeaders, body: '{}' });
        assert.ok(res.status === 503 || res.status === 502, `${method} ${path}: ${res.status}`);
        assert.equal(calls, 1, `${method} ${path} reached the upstream once`);
      }
      calls = 0;
      const streamed = await send(gw.url, '/x', { method: 'PUT', headers: jsonHeaders, chunks: ['{"a":', '1}'] });
      assert.equal(streamed.status, 503);
      assert.equal(calls, 1, 'a PUT whose body streamed through (WAF off: not buffered) is not replayed');
    } finally {
      await gw.close();
      a.handler = undefined;
      b.handler = undefined;
    }
  });

  test('held up: no retry once response bytes reached the client; before that (buffered route) the GET is retried, HEAD as GET', async () => {
    a.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      setTimeout(() => res.socket?.destroy(), 50);
    };
    b.handler = (req, res) => json(res, 200, { from: 'b', method: req.method });
    const streaming = await startGateway(pool({ retries: { attempts: 3, min_per_second: 100 } }, STREAMING_API), { env: TEST_ENV });
    try {
      let cut = 0;
      for (let i = 0; i < 4; i++) {
        const before = b.seen.length;
        const res = await send(streaming.url, '/items').catch(() => undefined);
        if (res === undefined || res.body.startsWith('{"partial":')) {
          cut++;
          assert.equal(b.seen.length, before, 'the cut GET was not sent again');
        }
      }
      assert.ok(cut >= 1, 'the client saw the cut response (bytes had reached it)');
    } finally {
      await streaming.close();
    }
    const buffered = await startGateway(pool({ retries: { attempts: 3, min_per_second: 100 } }), { env: TEST_ENV });
    try {
      for (let i = 0; i < 4; i++) assert.equal(JSON.parse((await send(buffered.url, '/items')).body).from, 'b', 'nothing had been sent: retried on b');
      const seen = b.seen.length;
      const head = await send(buffered.url, '/items', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.ok(b.seen.slice(seen).every((r) => r.method === 'GET'), 'HEAD on a buffering route goes upstream as GET, retries too');
    } finally {
      await buffered.close();
      a.handler = undefined;
      b.handler = undefined;
    }
  });

  test('held up: the client\'s Host picks neither the target nor the Host sent upstream; probes use the target\'s own', async () => {
    const gw = await startGateway(pool({ health_check: { path: '/health', interval_ms: 300_000 } }), { env: TEST_ENV });
    const [fromA, fromB] = [a.seen.length, b.seen.length];
    try {
      for (let i = 0; i < 4; i++) assert.equal((await send(gw.url, '/items', { headers: { host: `evil-${i}.example:1` } })).status, 200);
      const seen = [...a.seen.slice(fromA), ...b.seen.slice(fromB)].filter((r) => r.url === '/items');
      assert.equal(a.seen.slice(fromA).filter((r) => r.url === '/items').length, 2, 'round robin regardless of Host');
      for (const r of seen) {
        assert.match(String(r.headers.host), /^127\.0\.0\.1:\d+$/);
        assert.doesNotMatch(JSON.stringify(r.headers), /evil/);
      }
      const probe = [...a.seen.slice(fromA), ...b.seen.slice(fromB)].find((r) => r.url === '/health')!;
      assert.equal(probe.headers['user-agent'], 'rampart-health-check');
      assert.match(String(probe.headers.host), /^127\.0\.0\.1:\d+$/);
    } finally {
      await gw.close();
    }
  });

  test('held up: stop() is prompt with health checks running and a request waiting out a retry backoff', async () => {
    a.handler = (_req, res) => json(res, 503, {});
    b.handler = (_req, res) => json(res, 503, {});
    const gw = await startGateway(pool({ health_check: { path: '/health', interval_ms: 50 }, retries: { attempts: 5, min_per_second: 100, backoff_ms: 400, max_backoff_ms: 400 } }), { env: TEST_ENV });
    const pending = send(gw.url, '/items', { timeoutMs: 5000 }).catch(() => undefined);
    await sleep(100);
    const started = Date.now();
    try {
      await gw.close();
      assert.ok(Date.now() - started < 3000, `stopped in ${Date.now() - started} ms`);
      await pending;
    } finally {
      a.handler = undefined;
      b.handler = undefined;
    }
  });
});

describe('balancer and retry budget as logic', () => {
  const fakePool = () => ({}) as Pool;
  const counts = (picks: (Target | undefined)[]) => picks.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t?.label ?? 'none']: (acc[t?.label ?? 'none'] ?? 0) + 1 }), {});

  // Found by a red-team pass: the budget floor was `min_per_second * 10` retries over the 10 s window, all usable
  // in one instant: six requests in an outage with attempts: 5 got 30 retries at once (6x the load).
  test('the retry budget floor is per current second, not a 10-second allowance spent in one burst', () => {
    let now = 1_000_000;
    const budget = new RetryBudget({ ...RETRIES, attempts: 5 }, () => now);
    for (let i = 0; i < 6; i++) budget.request();
    let granted = 0;
    for (let i = 0; i < 40; i++) if (budget.take()) granted++;
    assert.equal(granted, 3, 'min_per_second (3) retries for 6 requests within one millisecond');
    now += 1000;
    granted = 0;
    for (let i = 0; i < 40; i++) if (budget.take()) granted++;
    assert.equal(granted, 3, 'the next second has its own floor, no more');
  });

  test('held up: ejections cannot flood the log (one event per ejection period), and ejected targets come back', () => {
    let now = 0;
    const events: string[] = [];
    const b = new Balancer('svc', upstreamConfig([{ url: 'http://a:1' }, { url: 'http://b:1' }]), fakePool, { ejected: (_u, t, ms) => events.push(`${t}:${ms}`) }, () => now);
    const [ta, tb] = b.targets;
    for (let i = 0; i < 1000; i++) {
      b.record(ta!, 'refused');
      b.record(ta!, 'ok');
      now++;
    }
    assert.deepEqual(events, ['a:1:5000'], 'a flapping target: one ejection in 1 s of alternating results');
    b.record(tb!, 'refused');
    assert.equal(b.pick(), tb, 'the last one in rotation is not ejected: it is picked');
    assert.deepEqual(events, ['a:1:5000']);
    now = 5001;
    assert.deepEqual(new Set([b.pick(), b.pick()]), new Set([ta, tb]), 'the one whose ejection ended is back');
  });

  test('held up: weight extremes share exactly; duplicate targets are found through URL normalisation', () => {
    const b = new Balancer('svc', upstreamConfig([{ url: 'http://a:1', weight: 100 }, { url: 'http://b:1', weight: 1 }]), fakePool);
    const picks = Array.from({ length: 101 }, () => b.pick());
    assert.deepEqual(counts(picks), { 'a:1': 100, 'b:1': 1 });
    for (const [x, y] of [['http://127.1:80', 'http://127.0.0.1'], ['http://LOCALHOST:3000/', 'http://localhost:3000'], ['http://0x7f000001:5', 'http://127.0.0.1:5']]) {
      const issues = checkUpstreamTargets('svc', { targets: [{ url: x!, weight: 1 }, { url: y!, weight: 1 }] });
      assert.match(issues[0]?.message ?? '', /twice/, `${x} = ${y}`);
    }
  });
});

describe('admin list envelope and paging', () => {
  // Found by a red-team pass: the route fetches at most 1000 counters from the backend and pages those in memory,
  // so past 1000 counters the walk ended with next: null having shown 1000, the envelope claiming completeness.
  // It still lists 1000, but every page now says truncated: true.
  test('ratelimit counters: past the 1000-counter backend cap every page says truncated: true', async () => {
    type Page = { items: { key: string }[]; next: string | null; truncated: boolean };
    const counters = (n: number) => {
      const memory = new MemoryCounter();
      for (let i = 0; i < n; i++) memory.decideSync(`rl:orders:per-ip:10.0.${Math.floor(i / 250)}.${i % 250}`, { algorithm: 'fixed_window', limit: 10, windowMs: 600_000 });
      const route = rateLimitAdminRoutes({ shared: memory, local: memory } as unknown as Counters, () => new Map()).find((r) => r.method === 'GET' && r.path.endsWith('/ratelimit/counters'))!;
      return async (query: string): Promise<Page> => {
        let body = '';
        const res = { writeHead: () => res, end: (text: string) => void (body = text) } as unknown as ServerResponse;
        await route.handler({ url: `/admin/v1/ratelimit/counters?${query}` } as IncomingMessage, res, {}, undefined);
        return JSON.parse(body) as Page;
      };
    };
    const get = counters(1200);
    const seen: string[] = [];
    const truncated: boolean[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: Page = await get(`limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      seen.push(...page.items.map((i) => i.key));
      truncated.push(page.truncated);
      after = page.next;
      if (after === null) break;
    }
    assert.equal(after, null, 'the walk ended');
    assert.equal(new Set(seen).size, 1000, 'the backend cap: 1000 listed');
    assert.deepEqual(truncated, [true, true], 'and every page says the list is truncated');
    assert.equal((await counters(10)('limit=500')).truncated, false, 'a small store is not truncated');
  });

  test('held up: in-memory paging with odd cursors (empty, NUL, U+FFFF, lone surrogate, between keys, 1024 chars) and limits', () => {
    const rows = ['10.0.0.1', '10.0.0.2', '192.0.2.1', '2001:db8::1'].map((ip) => ({ ip }));
    const page = (query: string) => pageInMemory(rows, new URLSearchParams(query), (r) => r.ip);
    assert.equal(page('after=').items.length, 4);
    assert.equal(page('after=%00').items.length, 4);
    assert.equal(page('after=%EF%BF%BF').items.length, 0);
    assert.equal(page('after=%ED%A0%80').items.length, 0, 'an encoded lone surrogate (invalid UTF-8, decoded as U+FFFD) sorts after the keys');
    assert.deepEqual(page('after=10.0.0.15').items.map((r) => r.ip), ['10.0.0.2', '192.0.2.1', '2001:db8::1'], 'a stale cursor lands in place');
    assert.deepEqual(page('limit=1&after=10.0.0.1&after=192.0.2.1'), { items: [{ ip: '10.0.0.2' }], next: '10.0.0.2' }, 'the first after counts');
    assert.equal(page(`after=${'z'.repeat(1024)}`).items.length, 0);
    for (const bad of [`after=${'z'.repeat(1025)}`, 'limit=0', 'limit=501', 'limit=1e2', 'limit=-1', 'limit=%201', 'limit=0100']) assert.throws(() => page(bad), /validation|cursor|limit/, bad);
    assert.equal(page('limit=007').items.length, 4);
  });

  const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
  const incident = (id: string, at: string): Incident => ({
    id,
    kind: 'auth_failures',
    key: `auth_failures:${id}`,
    severity: 'high',
    status: 'open',
    subject: { ip: '192.0.2.1' },
    summary: 'red team',
    count: 1,
    firstSeen: at,
    lastSeen: at,
    evidence: { requestIds: [], counts: {}, samples: [] },
    actions: [],
    timeline: [],
  });

  // Found by a red-team pass: a cursor whose incident is gone (deleted by hand, by a restore or a retention job)
  // matched no row, so GET /admin/v1/incidents answered an empty page with next: null and a client walking the list
  // stopped early, believing it saw everything. The route now answers 400. Held up: same-millisecond ties walk once
  // each on PostgreSQL.
  test('PostgreSQL incidents: ties page once each; a deleted cursor is answered 400', async () => {
    const schema = `rampart_rt_${randomBytes(6).toString('hex')}`;
    const db = await openDb({ kind: 'postgres', url: PG_URL, schema });
    try {
      const store = new IncidentStore(db, new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1'));
      await store.init();
      const ids = ['inc_a', 'inc_b', 'inc_c', 'inc_d', 'inc_e', 'inc_f'];
      for (const [i, id] of ids.entries()) await store.save(incident(id, i < 4 ? '2026-01-01T00:00:00.000Z' : `2026-01-0${i}T00:00:00.000Z`));
      const walked: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const rows = await store.list({ limit: 2, ...(after ? { after } : {}) });
        walked.push(...rows.map((r) => r.id));
        if (rows.length < 2) break;
        after = rows.at(-1)!.id;
      }
      assert.deepEqual(walked, ['inc_f', 'inc_e', 'inc_d', 'inc_c', 'inc_b', 'inc_a'], 'held up: newest first, ties by id, none twice');
      const routes = new Map<string, AdminHandler>();
      const admin = { addReadinessDetail: () => undefined, route: (method: string, path: string, handler: AdminHandler) => void routes.set(`${method} ${path}`, handler) } as unknown as AdminServer;
      registerMonitorRoutes(admin, { incidents: store, openIncidents: () => [], readinessDetail: () => ({}) } as unknown as Monitor);
      const list = routes.get('GET /admin/v1/incidents')!;
      const get = async (query: string) => {
        let status = 0;
        let body = '';
        const res = { writeHead: (s: number) => ((status = s), res), end: (text: string) => void (body = text) } as unknown as ServerResponse;
        await list({ url: `/admin/v1/incidents?${query}` } as IncomingMessage, res, {}, undefined);
        return { status, json: JSON.parse(body) as { items: { id: string }[] } };
      };
      const page = await get('limit=2&after=inc_e');
      assert.equal(page.status, 200);
      assert.deepEqual(page.json.items.map((i) => i.id), ['inc_d', 'inc_c'], 'a live cursor pages on');
      await db.run('DELETE FROM rampart_incidents WHERE id = $1', ['inc_e']);
      await assert.rejects(get('limit=2&after=inc_e'), (e: unknown) => e instanceof GatewayError && e.status === 400, 'a cursor naming a deleted incident is refused, not an empty last page');
    } finally {
      await db.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });
});

describe('rampart apply with keys, and PATCH /admin/v1/keys', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let work: string;
  let n = 0;
  const PEPPER = 'red-team-apply-pepper-'.padEnd(48, 'p');
  before(async () => {
    // runApply loads the config with process.env (as the CLI does): it needs the admin token variables.
    Object.assign(process.env, { T_ADMIN: ADMIN_TOKEN, T_READ: READ_TOKEN });
    upstream = await startUpstream();
    gw = await startGateway(
      keysConfig(upstream.url, {
        monitor: { enabled: false },
        store: { kind: 'sqlite', path: './store.db' },
        auth_keys: { pepper: '${file:pepper.txt}' },
        plans: { gold: [{ name: 'gold', key: 'api_key', algorithm: 'fixed_window', limit: '1000/min' }] },
      }),
      { files: { 'keys.yaml': KEYS_SPEC, 'pepper.txt': PEPPER }, env: TEST_ENV },
    );
    work = mkdtempSync(join(tmpdir(), 'rampart-rt-apply-'));
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** Runs `rampart apply` in this process on `declared`; resolves with its exit code and printed plan. */
  const apply = async (declared: unknown, ...flags: string[]): Promise<{ code: number; out: string }> => {
    const file = join(work, `declared-${++n}.yaml`);
    writeFileSync(file, typeof declared === 'string' ? declared : stringify(declared));
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out += chunk.toString('utf8');
        cb();
      },
    });
    const code = await runApply('apply', ['-f', file, ...flags], gw.configFile, sink);
    return { code, out };
  };
  const secretsFile = () => join(work, `secrets-${++n}.jsonl`);

  const admin = (method: string, path: string, body?: unknown) => adminCall(gw.adminUrl, method, path, ADMIN_TOKEN, body);
  const keysOf = async (consumer: string) => ((await admin('GET', `/keys?consumer=${consumer}`)).json['items'] as { id: string; status: string; metadata: Record<string, unknown>; replaced_by: string | null }[]);
  const call = (key: string) => fetch(`${gw.url}/items`, { headers: { 'x-api-key': key } });

  // Found by a red-team pass: a key declared by `id:` was matched by id even after it was rotated, and --prune
  // revoked its live successor (which no entry named): the new key died at once and the old one at the end of its
  // grace, leaving the consumer with no working key. The entry now follows the rotation to the successor.
  test('--prune after a rotation keeps the successor of a key declared by id', async () => {
    await admin('POST', '/consumers', { id: 'rot-a', name: 'Rotating' });
    const created = await admin('POST', '/keys', { consumer: 'rot-a', scopes: ['orders:read'] });
    const oldId = String(created.json['id']);
    const declared = { consumers: [{ id: 'rot-a', name: 'Rotating' }], keys: [{ id: oldId, consumer: 'rot-a', scopes: ['orders:read'] }] };
    assert.equal((await apply(declared, '--prune')).out, 'no changes\n');
    const rotated = await admin('POST', `/keys/${oldId}/rotate`, { grace_seconds: 3600 });
    const successor = String(rotated.json['id']);
    const newSecret = String(rotated.json['key']);
    assert.equal((await call(newSecret)).status, 200);
    const pruned = await apply(declared, '--prune');
    assert.equal(pruned.code, 0);
    assert.equal(pruned.out, 'no changes\n', 'the declared key is its successor now: nothing to revoke');
    const states = Object.fromEntries((await keysOf('rot-a')).map((k) => [k.id, k.status]));
    assert.deepEqual(states, { [oldId]: 'rotating', [successor]: 'active' }, 'the successor is live, the old key runs out its grace');
    assert.equal((await call(newSecret)).status, 200, 'the new secret still works');
  });

  // Found by a red-team pass: the file schema was looser than the store (ids with ':' and up to 128 chars, any
  // string as a scope, unbounded metadata), so a plan that validated failed half-way: the changes before the bad
  // entry were applied, the rest not, exit 1. The schema now uses the store's rules: refused with exit 2 up front.
  test('a file breaking the store\'s rules is refused (exit 2) before any change', async () => {
    const result = await apply(
      { consumers: [{ id: 'half-a', name: 'Half A' }, { id: 'half:b', name: 'Half B' }], keys: [{ ref: 'k', consumer: 'half-a', scopes: ['has space'] }] },
      '--secrets-out',
      secretsFile(),
    );
    assert.equal(result.code, 2);
    assert.doesNotMatch(result.out, /create/);
    assert.equal((await admin('GET', '/consumers/half-a')).status, 404, 'not even the valid first consumer was created');
    assert.deepEqual(await keysOf('half-a'), [], 'no key');
    const scope = await apply({ consumers: [{ id: 'half-d', name: 'D' }], keys: [{ ref: 'k', consumer: 'half-d', scopes: ['has space'] }] }, '--secrets-out', secretsFile());
    assert.equal(scope.code, 2, 'a scope that is not a label is refused');
    assert.equal((await admin('GET', '/consumers/half-d')).status, 404);
    const big = await apply({ consumers: [{ id: 'half-c', name: 'C' }], keys: [{ ref: 'k', consumer: 'half-c', metadata: { blob: 'x'.repeat(9000) } }] }, '--secrets-out', secretsFile());
    assert.equal(big.code, 2, 'metadata over 8 KiB is refused');
    assert.equal((await admin('GET', '/consumers/half-c')).status, 404, 'and its consumer not created');
  });

  // Found by a red-team pass: the store allowed 256 scopes but the file schema 64, so the export of a key the
  // admin API made could be refused by apply: `rampart export | rampart apply -f -` was not a round trip.
  test('export of a key with 65 scopes round-trips through apply', async () => {
    await admin('POST', '/consumers', { id: 'wide-a', name: 'Wide' });
    const scopes = Array.from({ length: 65 }, (_, i) => `s${i}`);
    assert.equal((await admin('POST', '/keys', { consumer: 'wide-a', scopes })).status, 201);
    let exported = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        exported += chunk.toString('utf8');
        cb();
      },
    });
    assert.equal(await runApply('export', [], gw.configFile, sink), 0);
    const result = await apply(exported);
    assert.equal(result.code, 0, 'the export validates');
    assert.equal(result.out, 'no changes\n', 'and applies as no change');
  });

  test('held up: PATCH /admin/v1/keys with odd bodies', async () => {
    await admin('POST', '/consumers', { id: 'patch-a', name: 'Patch' });
    const created = await admin('POST', '/keys', { consumer: 'patch-a', scopes: ['orders:read'] });
    const id = String(created.json['id']);
    const raw = async (body: string, type = 'application/json') =>
      (await fetch(`${gw.adminUrl}/admin/v1/keys/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type }, body })).status;
    assert.equal(await raw('{"__proto__":{"scopes":["admin"]}}'), 400);
    assert.equal(await raw('{"constructor":{"prototype":{"x":1}}}'), 400);
    assert.equal(await raw('[]'), 400);
    assert.equal(await raw('null'), 400);
    assert.equal(await raw('"scopes"'), 400);
    assert.equal(await raw('{"scopes":["a"]}', 'text/plain'), 415);
    for (const body of [{ scopes: null }, { scopes: 'orders:write' }, { scopes: [1] }, { metadata: null }, { metadata: [] }, { plan: 7 }, { expires_at: 4102444800000 }, { expires_at: 'soon' }, { expires_at: '2001-01-01T00:00:00Z' }, { consumer: 'other' }, { key_hash: 'ab'.repeat(32) }, { revoked_at: null }, { scopes: ['has space'] }, { plan: 'no such plan!' }])
      assert.equal((await admin('PATCH', `/keys/${id}`, body)).status, 400, JSON.stringify(body));
    const nested = await admin('PATCH', `/keys/${id}`, { metadata: JSON.parse('{"__proto__":{"polluted":true},"team":"a"}') as Record<string, unknown> });
    assert.equal(nested.status, 200);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
    const read = (await admin('GET', `/keys/${id}`)).json['metadata'] as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(read, '__proto__') && read['team'] === 'a', 'kept as plain data');
    assert.deepEqual((await admin('GET', `/keys/${id}`)).json['scopes'], ['orders:read'], 'scopes untouched by the refused bodies');
    assert.equal((await admin('PATCH', '/keys/AAAAAAAAAAAA', { scopes: [] })).status, 404);
    await admin('POST', `/keys/${id}/revoke`);
    assert.equal((await admin('PATCH', `/keys/${id}`, { scopes: [] })).status, 409, 'a revoked key cannot be changed');
  });

  test('held up: alias bombs, duplicate refs across consumers, past expiry and key_hash rules are refused before any change', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'consumers: []'].join('\n');
    assert.equal((await apply(bomb)).code, 2, 'a billion-laughs file');
    const consumers = [{ id: 'dup-a', name: 'A' }, { id: 'dup-b', name: 'B' }];
    assert.equal((await apply({ consumers, keys: [{ ref: 'same', consumer: 'dup-a' }, { ref: 'same', consumer: 'dup-b' }] })).code, 2, 'one ref for two consumers is refused (conservative)');
    assert.equal((await apply({ consumers, keys: [{ ref: 'old', consumer: 'dup-a', expires_at: '2020-01-01T00:00:00Z' }] })).code, 2);
    assert.equal((await apply({ consumers, keys: [{ id: 'BBBBBBBBBBBB', consumer: 'dup-a', key_hash: 'AB'.repeat(32) }] })).code, 2, 'upper-case hash');
    assert.equal((await admin('GET', '/consumers/dup-a')).status, 404, 'nothing applied');
    // A key_hash of another store (another pepper) imports, and simply never verifies: nothing can check it here.
    const imported = await apply({ consumers, keys: [{ id: 'CCCCCCCCCCCC', consumer: 'dup-a', key_hash: 'ab'.repeat(32) }] });
    assert.equal(imported.code, 0);
    assert.match(imported.out, /\+ import key CCCCCCCCCCCC for dup-a \(by hash\)/);
  });

  test('held up (pure plan): a rotated key declared by ref follows its successor, which carries the ref', () => {
    const base = { prefix: 'rk_live', consumerId: 'c', keyHash: 'ab'.repeat(32), scopes: [], expiresAt: null, plan: null, createdAt: 0, updatedAt: 0, lastUsedAt: null, revokedAt: null } as const;
    const current = [
      { ...base, id: 'OLDOLDOLDOLD', metadata: { rampart_ref: 'bot' }, replacedBy: 'NEWNEWNEWNEW', graceUntil: 10 },
      { ...base, id: 'NEWNEWNEWNEW', metadata: { rampart_ref: 'bot' }, replacedBy: null, graceUntil: null },
    ] as unknown as ApiKeyRecord[];
    assert.deepEqual(planKeys(current, [{ ref: 'bot', consumer: 'c' }], true, 0), []);
  });
});
