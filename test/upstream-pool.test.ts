/**
 * Upstream pools through a real gateway: three upstream instances as their own processes, balanced, health-checked,
 * one killed (SIGKILL) and restarted under load, all killed; and retries against an in-process upstream that
 * counts what reaches it: budgets, idempotency and streamed bodies. Loopback only; every loop is bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { eventually, send } from './helpers/gateway-fixtures.ts';
import { assertProblem } from './helpers/http.ts';
import { adminCall, ADMIN_CONFIG, ADMIN_TOKEN, KEYS_SPEC, READ_TOKEN, TEST_ENV } from './helpers/apikeys.ts';
import { decodeJwt } from 'jose';

const MEMBER = new URL('./fixtures/pool-member.ts', import.meta.url).pathname;

interface Member {
  readonly name: string;
  port: number;
  child: ChildProcess;
}

function startMember(name: string, port = 0): Promise<Member> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MEMBER, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 10_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ name, port: Number(line.split(' ')[1]), child });
    });
    child.once('error', reject);
  });
}

function kill(member: Member): Promise<void> {
  return new Promise((resolve) => {
    if (member.child.exitCode !== null || member.child.signalCode !== null) return resolve();
    member.child.once('exit', () => resolve());
    member.child.kill('SIGKILL');
  });
}

const instanceOf = (body: string): string => (JSON.parse(body) as { instance: string }).instance;

/** `count` GETs, `concurrency` at a time; resolves with every status and the instance that answered each 200. */
async function load(url: string, path: string, count: number, concurrency: number, onProgress?: (done: number) => void): Promise<{ statuses: number[]; instances: string[] }> {
  const statuses: number[] = [];
  const instances: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const res = await send(url, path, { timeoutMs: 10_000 }).catch(() => ({ status: 0, body: '' }));
      statuses.push(res.status);
      if (res.status === 200) instances.push(instanceOf(res.body));
      onProgress?.(statuses.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, instances };
}

const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {});

async function metric(gw: TestGateway, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('a pool of three upstream processes', () => {
  const members: Member[] = [];
  let gw: TestGateway;
  before(async () => {
    members.push(...(await Promise.all(['a', 'b', 'c'].map((n) => startMember(n)))));
    gw = await startGateway(
      {
        monitor: { enabled: false },
        admin: ADMIN_CONFIG,
        logging: { access_log: false },
        upstreams: {
          svc: {
            targets: members.map((m) => ({ url: `http://127.0.0.1:${m.port}` })),
            health_check: { path: '/health', interval_ms: 200, timeout_ms: 200, healthy_threshold: 2, unhealthy_threshold: 2 },
            retries: { attempts: 2, budget_ratio: 0.5 },
          },
        },
        apis: [{ name: 'p', passthrough: true, upstream: 'svc' }],
      },
      { env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await Promise.all(members.map(kill));
  });

  test('requests are shared equally (round robin); each target reports in rotation', async () => {
    const { statuses, instances } = await load(gw.url, '/items', 30, 1);
    assert.ok(statuses.every((s) => s === 200));
    assert.deepEqual(tally(instances), { a: 10, b: 10, c: 10 });
    for (const m of members) assert.equal(await metric(gw, 'rampart_upstream_target_in_rotation', `target="127.0.0.1:${m.port}"`), 1);
  });

  test('one instance killed under load: no client error (its in-flight GETs are retried), it leaves rotation, and comes back when restarted', async () => {
    const victim = members[1]!;
    let killed: Promise<void> | undefined;
    const { statuses } = await load(gw.url, '/slow/x', 120, 12, (done) => {
      if (done === 24) killed = kill(victim);
    });
    await killed;
    assert.deepEqual(tally(statuses.map(String)), { '200': 120 }, 'every request answered 200');
    assert.ok(((await metric(gw, 'rampart_upstream_retries_total', 'upstream="svc"')) ?? 0) > 0, 'the dead instance\'s in-flight requests were retried');
    assert.ok(await eventually(async () => (await metric(gw, 'rampart_upstream_target_in_rotation', `target="127.0.0.1:${victim.port}"`)) === 0, 2000), 'out of rotation');
    const during = await load(gw.url, '/items', 20, 2);
    assert.ok(during.statuses.every((s) => s === 200));
    assert.ok(!during.instances.includes('b'));

    const restarted = await startMember('b', victim.port);
    members[1] = restarted;
    assert.ok(await eventually(async () => (await metric(gw, 'rampart_upstream_target_in_rotation', `target="127.0.0.1:${victim.port}"`)) === 1, 5000), 'back in rotation once its checks pass');
    const back = await load(gw.url, '/items', 30, 1);
    assert.ok(back.statuses.every((s) => s === 200));
    assert.ok((tally(back.instances)['b'] ?? 0) >= 5, `the restarted instance gets its share again (${JSON.stringify(tally(back.instances))})`);
  });

  test('every instance down: 503 upstream_unavailable with Retry-After at once; service resumes when they return', async () => {
    await Promise.all(members.map(kill));
    // Refused connections answer 503 at once; within a check interval the checks take every target out of
    // rotation, and the gateway answers without trying any (with Retry-After).
    assert.ok(await eventually(async () => (await send(gw.url, '/items')).headers['retry-after'] === '1', 3000));
    const res = await send(gw.url, '/items', { timeoutMs: 3000 });
    assertProblem(res, 503, 'upstream_unavailable');
    assert.equal(res.headers['retry-after'], '1');
    const ports = members.map((m) => m.port);
    members.splice(0, members.length, ...(await Promise.all(['a', 'b', 'c'].map((n, i) => startMember(n, ports[i])))));
    assert.ok(await eventually(async () => (await send(gw.url, '/items')).status === 200, 5000));
  });
});

describe('retries', () => {
  let upstream: TestUpstream;
  let flaky: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    flaky = await startUpstream();
  });
  after(async () => {
    await upstream?.close();
    await flaky?.close();
  });

  const pool = (retries: Record<string, unknown>) => ({
    monitor: { enabled: false },
    logging: { access_log: false },
    upstreams: { svc: { targets: [{ url: flaky.url }, { url: upstream.url }], retries } },
    apis: [{ name: 'p', passthrough: true, upstream: 'svc' }],
  });

  test('a GET answered 503 is retried on the other target, a PUT with its (buffered) body too; a POST is not', async () => {
    flaky.handler = (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    upstream.handler = undefined;
    // consecutive_failures high: keep the flaky target in rotation so every request meets it first or second.
    const gw = await startGateway({ ...pool({ attempts: 1, min_per_second: 100 }), upstreams: { svc: { targets: [{ url: flaky.url }, { url: upstream.url }], retries: { attempts: 1, min_per_second: 100 }, outlier: { consecutive_failures: 1000 } } } });
    try {
      for (let i = 0; i < 6; i++) assert.equal((await send(gw.url, '/items')).status, 200, 'GET: retried on the healthy target');
      const posts = [];
      for (let i = 0; i < 6; i++) posts.push((await send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
      assert.deepEqual([...new Set(posts)].sort(), [200, 503], 'POST: the flaky target\'s 503 reaches the client, never sent twice');
      for (let i = 0; i < 2; i++) {
        const put = await send(gw.url, '/items/1', { method: 'PUT', headers: { 'content-type': 'application/json' }, chunks: ['{"a":', `${i}}`] });
        assert.equal(put.status, 200);
        assert.equal(JSON.parse(put.body)['body'], `{"a":${i}}`, 'the retry sends the same body again');
      }
    } finally {
      await gw.close();
      flaky.handler = undefined;
    }
  });

  test('the retry budget bounds the extra load of an outage', async () => {
    flaky.handler = (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    upstream.handler = (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    const gw = await startGateway({ ...pool({}), upstreams: { svc: { targets: [{ url: flaky.url }, { url: upstream.url }], retries: { attempts: 3, budget_ratio: 0.1, min_per_second: 0, backoff_ms: 1 }, outlier: { consecutive_failures: 1000 } } } });
    try {
      const before = flaky.seen.length + upstream.seen.length;
      for (let i = 0; i < 100; i++) assert.equal((await send(gw.url, '/items')).status, 503);
      const sent = flaky.seen.length + upstream.seen.length - before;
      assert.ok(sent <= 111, `100 requests with 3 retries each would be 400 upstream calls; the 10 % budget allows ${sent}`);
      assert.ok(sent >= 100);
    } finally {
      await gw.close();
      flaky.handler = undefined;
      upstream.handler = undefined;
    }
  });

  test('each try carries its own identity assertion (a new jti): an upstream that refuses a replayed jti accepts the retry', async () => {
    flaky.handler = (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    upstream.handler = undefined;
    const gw = await startGateway(
      {
        ...pool({}),
        identity: { enabled: true },
        upstreams: { svc: { targets: [{ url: flaky.url }, { url: upstream.url }], retries: { attempts: 1, min_per_second: 100 }, outlier: { consecutive_failures: 1000 } } },
        apis: [{ name: 'k', spec: './keys.yaml', upstream: 'svc', auth: { api_keys: true }, response: { mode: 'off' } }],
        admin: ADMIN_CONFIG,
      },
      { env: TEST_ENV, files: { 'keys.yaml': KEYS_SPEC } },
    );
    try {
      assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'c1', name: 'C' })).status, 201);
      const key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'c1' })).json['key']);
      const jtis: string[] = [];
      for (let i = 0; i < 4 && jtis.length < 2; i++) {
        const before = [flaky.seen.length, upstream.seen.length];
        assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': key } })).status, 200);
        const tries = [...flaky.seen.slice(before[0]), ...upstream.seen.slice(before[1])];
        if (tries.length === 2) jtis.push(...tries.map((t) => String(decodeJwt(String(t.headers['x-rampart-identity'])).jti)));
      }
      assert.equal(jtis.length, 2, 'a request was retried');
      assert.notEqual(jtis[0], jtis[1]);
    } finally {
      await gw.close();
      flaky.handler = undefined;
    }
  });

  test('a slow failure is not retried: retries start within half the headers timeout of the first try', async () => {
    flaky.handler = (_req, res) => setTimeout(() => res.writeHead(503, { 'content-type': 'application/json' }).end('{}'), 300);
    upstream.handler = flaky.handler;
    const gw = await startGateway({ ...pool({}), upstreams: { svc: { targets: [{ url: flaky.url }, { url: upstream.url }], headers_timeout_ms: 400, retries: { attempts: 3, min_per_second: 100 }, outlier: { consecutive_failures: 1000 } } } });
    try {
      const before = flaky.seen.length + upstream.seen.length;
      assert.equal((await send(gw.url, '/items')).status, 503);
      assert.equal(flaky.seen.length + upstream.seen.length - before, 1, 'one try: the 503 took 300 ms, past half of 400');
    } finally {
      await gw.close();
      flaky.handler = undefined;
      upstream.handler = undefined;
    }
  });

  test('a refused target is ejected at once and its GETs retried; a single-url upstream keeps working as before', async () => {
    const gw = await startGateway({ ...pool({}), upstreams: { svc: { targets: [{ url: 'http://127.0.0.1:9' }, { url: upstream.url }] } } });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await send(gw.url, '/items')).status, 200);
      assert.ok(gw.logs.some((l) => l['msg'] === 'upstream target ejected after failures' && l['target'] === '127.0.0.1:9'));
    } finally {
      await gw.close();
    }
    const single = await startGateway({ monitor: { enabled: false }, upstreams: { svc: { url: upstream.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'svc' }] });
    try {
      assert.equal((await send(single.url, '/items')).status, 200);
    } finally {
      await single.close();
    }
  });
});

describe('upstream pool config', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['both url and targets', { url: 'http://127.0.0.1:1', targets: [{ url: 'http://127.0.0.1:2' }] }, /upstreams\.svc \(line \d+\): has both url and targets/],
    ['neither', {}, /upstreams\.svc \(line \d+\): has neither url nor targets/],
    ['a target twice', { targets: [{ url: 'http://127.0.0.1:2' }, { url: 'http://127.0.0.1:2/' }] }, /lists http:\/\/127\.0\.0\.1:2 twice/],
    ['mixed schemes', { targets: [{ url: 'http://127.0.0.1:2' }, { url: 'https://127.0.0.1:3' }] }, /mixes http and https/],
    ['a credential in a target', { targets: [{ url: 'http://u:p@127.0.0.1:2' }] }, /targets\[0\]\.url \(line \d+\): has a credential/],
  ];
  for (const [name, upstream, message] of cases) {
    test(`start-up stops on ${name}`, async () => {
      await assert.rejects(startGateway({ upstreams: { svc: upstream }, apis: [{ name: 'p', passthrough: true, upstream: 'svc' }] }), (error: Error) => {
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
