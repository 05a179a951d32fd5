/**
 * Class: no request, response or peer behaviour ends the gateway process. A hostile upstream (huge, truncated,
 * malformed or reset bodies) and a stray exception inside the pipeline each cost one request a generic problem,
 * never the process; the upstream connection is released and /readyz keeps answering.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { itemsConfig, send, SPEC_FILES } from '../helpers/gateway-fixtures.ts';
import { assertAlive, assertProblem } from '../helpers/http.ts';
import { itemsSuite } from '../helpers/items-suite.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { eventually } from '../helpers/gateway-fixtures.ts';
import { ADMIN_CONFIG, READ_TOKEN, TEST_ENV } from '../helpers/apikeys.ts';

const STRAY_CHILD = new URL('../helpers/stray-gateway.ts', import.meta.url).pathname;

const NINE_MIB = 9 * 1024 * 1024;

describe('crash: hostile upstream responses', () => {
  const suite = itemsSuite();

  test('a 9 MiB upstream body on a checked route → 502 problem, process alive, connection released', async () => {
    suite.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < NINE_MIB) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    };
    for (let i = 0; i < 3; i++) assertProblem(await send(suite.gw.url, '/items/big'), 502, 'upstream_invalid_response');
    // Sent without a length and chunked, the same body must be refused the same way.
    suite.upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.end(Buffer.alloc(NINE_MIB, 0x20));
    };
    assertProblem(await send(suite.gw.url, '/items/big'), 502, 'upstream_invalid_response');
    suite.upstream.handler = undefined;
    const ok = await send(suite.gw.url, '/items/after');
    assert.equal(ok.status, 200, 'the next request is served');
    await assertAlive(suite.gw.adminUrl);
  });

  test('an upstream that resets mid-body, lies about its length or sends garbage → 502/503/504 problem, process alive', async () => {
    const cases: ((socket: Socket) => void)[] = [
      (s) => s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":'),
      (s) => {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":');
        setTimeout(() => s.resetAndDestroy(), 20);
      },
      (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}'),
      (s) => s.end('NOT HTTP AT ALL\r\n\r\n'),
      (s) => s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'),
    ];
    for (const [i, answer] of cases.entries()) {
      const raw = await rawUpstream(answer);
      const g = await startGateway(itemsConfig(raw.url), { files: SPEC_FILES });
      try {
        const res = await send(g.url, '/items/x').catch(() => undefined);
        if (res) assert.ok(res.status === 502 || res.status === 503 || res.status === 504, `case ${i}: got ${res.status}`);
        const listed = await send(g.url, '/items').catch(() => undefined);
        if (listed) assert.ok(listed.status >= 500, `case ${i}: got ${listed.status}`);
        await assertAlive(g.adminUrl);
      } finally {
        await g.close();
        await raw.close();
      }
    }
  });
});

describe('crash: a stray exception inside the pipeline (child process)', () => {
  let upstream: TestUpstream;
  let child: ChildProcess;
  let base: string;
  let adminUrl: string;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'rampart-stray-'));
    writeFileSync(join(dir, 'items.yaml'), SPEC_FILES['items.yaml']);
    const config = { ...itemsConfig(upstream.url), admin: ADMIN_CONFIG, listen: { http: { port: 0, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } } };
    writeFileSync(join(dir, 'rampart.yaml'), stringify(config));
    child = spawn(process.execPath, [STRAY_CHILD, join(dir, 'rampart.yaml')], { stdio: ['pipe', 'pipe', 'inherit'], env: TEST_ENV });
    const addresses = await new Promise<{ http: number; admin: number }>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['addresses']) resolve(parsed['addresses'] as { http: number; admin: number });
        else lines.push(parsed);
      });
    });
    base = `http://127.0.0.1:${addresses.http}`;
    adminUrl = `http://127.0.0.1:${addresses.admin}`;
  });
  after(async () => {
    child?.kill('SIGKILL');
    await upstream?.close();
  });

  const strayCount = async (labels: string) => {
    const text = await (await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).text();
    const match = new RegExp(`rampart_stray_errors_total\\{${labels}\\} (\\d+)`).exec(text);
    return match ? Number(match[1]) : 0;
  };

  test('an exception thrown from a timer a stage started → that request gets a 500 problem, counted and logged; process lives', async () => {
    const seen = upstream.seen.length;
    const res = await send(base, '/items/buggy');
    const body = assertProblem(res, 500, 'internal');
    assert.doesNotMatch(res.body, /latent bug/);
    assert.equal(upstream.seen.length, seen, 'the upstream was not reached');
    assert.equal(await strayCount('origin="uncaughtException",scope="request"'), 1);
    assert.ok(await eventually(() => lines.some((l) => l['msg'] === 'stray exception caught; the process keeps serving' && l['requestId'] === body['requestId'])), 'logged under the request id');
    assert.equal((await send(base, '/items/fine')).status, 200, 'the next request is served');
    await assertAlive(adminUrl);
    assert.equal(child.exitCode, null);
  });

  test('a throw and a rejection outside any request → counted as process scope, process lives', async () => {
    child.stdin!.write('reject\nthrow\n');
    assert.ok(await eventually(async () => (await strayCount('origin="unhandledRejection",scope="process"')) === 1));
    assert.ok(await eventually(async () => (await strayCount('origin="uncaughtException",scope="process"')) === 1));
    await assertAlive(adminUrl);
    assert.equal((await send(base, '/items/fine')).status, 200);
  });
});

/** A TCP server on loopback that answers each connection with `answer` once the request head arrived. */
async function rawUpstream(answer: (socket: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        head = '';
        answer(socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

