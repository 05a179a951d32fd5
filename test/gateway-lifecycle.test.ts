/**
 * Lifecycle of a real gateway: config reload (file watch and explicit), a broken config never replacing a good
 * one, graceful stop draining in-flight requests, health and readiness on the admin listener, and `rampart check`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { eventually, itemsConfig, ITEMS_SPEC, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { freePort } from './helpers/ports.ts';
import { itemsSuite } from './helpers/items-suite.ts';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('reload', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url), { files: SPEC_FILES });
    // The file poller takes its baseline stat asynchronously: a write before that lands in the baseline unseen.
    await new Promise((r) => setTimeout(r, 300));
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const config = () => parse(readFileSync(gw.configFile, 'utf8')) as Record<string, unknown> & { apis: Record<string, unknown>[] };

  test('a broken config written over the file is rejected (and logged) and the old routes keep serving', async () => {
    const good = readFileSync(gw.configFile, 'utf8');
    const rejectedBefore = gw.logs.filter((l) => l['msg'] === 'configuration reload rejected; the previous configuration keeps serving').length;
    writeFileSync(gw.configFile, good.replace('upstream: main', 'upstream: main\n    bogus_setting: 1'));
    assert.ok(
      await eventually(() => gw.logs.filter((l) => l['msg'] === 'configuration reload rejected; the previous configuration keeps serving').length > rejectedBefore),
      'the rejection is logged',
    );
    const line = gw.logs.findLast((l) => l['msg'] === 'configuration reload rejected; the previous configuration keeps serving')!;
    assert.match(JSON.stringify(line['err']), /apis\[0\]\.bogus_setting/);
    assert.equal((await send(gw.url, '/items')).status, 200);

    writeFileSync(gw.configFile, 'listen: [this is: not valid yaml');
    assert.equal(await gw.gateway.reload(), false);
    assert.equal((await send(gw.url, '/items')).status, 200);
    writeFileSync(gw.configFile, good);
  });

  test('a valid change is picked up by the file watch', async () => {
    assert.equal((await send(gw.url, '/v2/items')).status, 404);
    const next = config();
    next.apis.push({ name: 'items-v2', spec: './items.yaml', upstream: 'main', base_path: '/v2' });
    writeFileSync(gw.configFile, stringify(next));
    assert.ok(await eventually(async () => (await send(gw.url, '/v2/items')).status === 200), 'the new API is served');
    assert.equal(upstream.seen.at(-1)!.url, '/items');
  });

  test('a change to the OpenAPI spec is picked up too', async () => {
    assert.equal((await send(gw.url, '/widgets')).status, 404);
    writeFileSync(join(gw.dir, 'items.yaml'), ITEMS_SPEC + "  /widgets:\n    get:\n      operationId: listWidgets\n      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }\n");
    assert.ok(await eventually(async () => (await send(gw.url, '/widgets')).status === 200));
  });

  test('gateway.reload() applies a valid config and resolves true', async () => {
    const next = config();
    next.apis = next.apis.filter((a) => a['name'] !== 'items-v2');
    writeFileSync(gw.configFile, stringify(next));
    assert.equal(await gw.gateway.reload(), true);
    assert.equal((await send(gw.url, '/v2/items')).status, 404);
  });
});

describe('graceful stop and health', () => {
  const suite = itemsSuite();

  test('/healthz and /readyz answer on the admin listener, not on the data plane', async () => {
    const health = await fetch(`${suite.gw.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${suite.gw.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await send(suite.gw.url, '/healthz')).status, 404);
  });

  test('an in-flight slow request completes while new connections are refused', async () => {
    let release: () => void = () => undefined;
    suite.upstream.handler = (_req, res) => {
      release = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"slow":true}');
    };
    const inflight = send(suite.gw.url, '/slow');
    assert.ok(await eventually(() => suite.upstream.seen.some((s) => s.url === '/slow')), 'the slow request reached the upstream');
    const stopped = suite.gw.gateway.stop(5000);
    assert.equal((await fetch(`${suite.gw.adminUrl}/readyz`)).status, 503, 'not ready while draining');
    await assert.rejects(send(suite.gw.url, '/items', { timeoutMs: 2000 }), /ECONNREFUSED|ECONNRESET|socket hang up/);
    release();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal(res.body, '{"slow":true}');
    await stopped;
    suite.upstream.handler = undefined;
  });
});

describe('rampart check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-check-'));
  writeFileSync(join(dir, 'items.yaml'), ITEMS_SPEC);

  test('a good config prints the route table and exits 0', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, stringify({ listen: { http: { port: 0, host: '127.0.0.1', insecure: true } }, ...itemsConfig('http://127.0.0.1:9') }));
    const { code, stdout } = await runCli(['check', '-c', file]);
    assert.equal(code, 0);
    assert.match(stdout, /API\s+METHOD\s+PATH\s+OPERATION/);
    assert.match(stdout, /items\s+GET\s+\/items\/\{id\}\s+getItem\s+main\s+limits:request-limits/);
    assert.match(stdout, /config OK: 5 routes/);
  });

  test('a bad config exits 2 naming the YAML path and line', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'listen:',
        '  http: { port: 0, host: 127.0.0.1, insecure: true }',
        'upstreams:',
        '  main: { url: "http://127.0.0.1:9", connect_timeout: 5 }',
        'apis:',
        '  - { name: items, spec: ./items.yaml, upstream: main }',
        '',
      ].join('\n'),
    );
    const { code, stderr } = await runCli(['check', '-c', file]);
    assert.equal(code, 2);
    assert.match(stderr, /upstreams\.main\.connect_timeout \(line 4\): unknown setting/);
    assert.match(stderr, /connect_timeout_ms/, 'the allowed keys are listed');
  });

  test('a spec that does not exist exits 2 naming the file', async () => {
    const file = join(dir, 'nospec.yaml');
    writeFileSync(file, stringify({ listen: { http: { port: 0, host: '127.0.0.1', insecure: true } }, ...itemsConfig('http://127.0.0.1:9', { api: { spec: './missing.yaml' } }) }));
    const { code, stderr } = await runCli(['check', '-c', file]);
    assert.equal(code, 2);
    assert.match(stderr, /missing\.yaml/);
  });
});


describe('rampart start (process signals)', () => {
  test('SIGHUP reloads the config; SIGTERM drains an in-flight request and exits 0', async () => {
    const upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'rampart-start-'));
    writeFileSync(join(dir, 'items.yaml'), ITEMS_SPEC);
    const [httpPort, adminPort] = [await freePort(), await freePort()];
    const file = join(dir, 'rampart.yaml');
    const base: Record<string, unknown> = { listen: { http: { port: httpPort, host: '127.0.0.1', insecure: true }, admin: { port: adminPort, host: '127.0.0.1' } }, ...itemsConfig(upstream.url) };
    writeFileSync(file, stringify(base));
    const child = spawn(process.execPath, [CLI, 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${httpPort}`;
    try {
      const ready = await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0)) === 200, 15_000);
      assert.ok(ready, `the gateway became ready: ${stderr}`);
      assert.equal((await send(url, '/items')).status, 200);

      const next = { ...base, apis: [...(base['apis'] as object[]), { name: 'v2', spec: './items.yaml', upstream: 'main', base_path: '/v2' }] };
      writeFileSync(file, stringify(next));
      child.kill('SIGHUP');
      assert.ok(await eventually(async () => (await send(url, '/v2/items')).status === 200, 10_000), 'SIGHUP applied the new config');

      let release: () => void = () => undefined;
      upstream.handler = (_req, res) => {
        release = () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"drained":true}');
      };
      const inflight = send(url, '/slow');
      assert.ok(await eventually(() => upstream.seen.some((r) => r.url === '/slow')));
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      release();
      const res = await inflight;
      assert.equal(res.status, 200);
      assert.equal(res.body, '{"drained":true}');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
