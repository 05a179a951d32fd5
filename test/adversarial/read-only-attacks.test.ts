/**
 * Read-only mode (apis[].read_only) attacked through real gateways (found by a red-team pass, fixed): refused
 * writes do not get a client blocked as a prober; a `_method` parameter cannot turn a read into a write; a
 * WebSocket opened before read-only mode (or before its route stopped taking upgrades) is closed at its next
 * re-check instead of relaying writes. Loopback only; every loop is bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { WebSocket, WebSocketServer } from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertAlive } from '../helpers/http.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV } from '../helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('read-only refusals are not probing: the monitor does not block the client (default settings)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        upstreams: { up: { url: up.url } },
        apis: [{ name: 'shop', passthrough: true, upstream: 'up', read_only: { enabled: true, retry_after_seconds: 5 } }],
        admin: ADMIN_CONFIG,
        // Only the drain interval is shortened: detector thresholds and containment are the defaults
        // (error_spike: 30 in 60 s, severity medium; respond.min_severity medium, block_ip_minutes 15).
        monitor: { interval_ms: 50 },
      },
      { env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('30 writes refused by read-only mode leave the client (or a whole NAT) able to read', async () => {
    const ip = '198.51.100.23';
    const send = (method: string, path: string, body?: string) =>
      fetch(gw.url + path, { method, headers: { 'x-forwarded-for': ip, ...(body ? { 'content-type': 'application/json' } : {}) }, body, signal: AbortSignal.timeout(5000) });
    assert.equal((await send('GET', '/orders/1')).status, 200);
    for (let i = 0; i < 30; i++) {
      const res = await send('POST', '/orders', '{"qty":1}');
      await res.arrayBuffer();
      assert.equal(res.status, 503);
    }
    // The monitor drains every 50 ms: 1 s is twenty drains, each of which would have contained.
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      const res = await send('GET', '/orders/1');
      await res.arrayBuffer();
      assert.equal(res.status, 200, 'the client IP is not blocked after read-only refusals');
    }
    const incidents = await fetch(`${gw.adminUrl}/admin/v1/incidents`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.deepEqual(((await incidents.json()) as { items: unknown[] }).items, []);
  });

  test('a method-override query parameter on a read is refused, not forwarded', async () => {
    const before = up.seen.length;
    for (const query of ['_method=DELETE', '%5Fmethod=put', '_METHOD=patch']) {
      const res = await fetch(`${gw.url}/orders/1?${query}`, { headers: { 'x-forwarded-for': '198.51.100.99' }, signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      assert.equal(res.status, 503, query);
    }
    assert.equal(up.seen.length, before);
    await assertAlive(gw.adminUrl);
  });
});

describe('an open WebSocket is closed once read-only mode is on or its route stops taking upgrades', () => {
  let server: Server;
  let upstreamUrl = '';
  const received: string[] = [];
  let gw: TestGateway;
  const SPEC = `openapi: 3.1.0
info: { title: chat, version: 1.0.0 }
paths:
  /chat:
    get:
      operationId: chat
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /orders:
    post:
      operationId: createOrder
      requestBody: { content: { application/json: { schema: { type: object } } } }
      responses: { '200': { description: ok } }
`;

  before(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) =>
        ws.on('message', (data) => {
          received.push(String(data));
          ws.send(`done:${String(data)}`);
        }),
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gw = await startGateway(
      { upstreams: { up: { url: upstreamUrl } }, apis: [{ name: 'chat', spec: './chat.yaml', upstream: 'up', websocket: { allow_origins: ['http://app.example'] } }], admin: ADMIN_CONFIG, monitor: { enabled: false } },
      { files: { 'chat.yaml': SPEC }, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const open = async () => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/chat`, { origin: 'http://app.example' });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      setTimeout(() => reject(new Error('no open in 5 s')), 5000).unref();
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    return { ws, closed };
  };
  const reload = async (api: Record<string, unknown>) => {
    const config = parse(readFileSync(gw.configFile, 'utf8')) as { apis: Record<string, unknown>[] };
    Object.assign(config.apis[0]!, api);
    writeFileSync(gw.configFile, stringify(config));
    assert.equal(await gw.gateway.reload(), true);
  };

  test('read-only on: an open socket is closed within the re-check interval; a new upgrade is refused', async () => {
    const { ws, closed } = await open();
    await reload({ read_only: { enabled: true }, operations: {} });
    const code = await Promise.race([closed, sleep(4000).then(() => 0)]);
    assert.equal(code, 1008, 'closed by the re-check (1 s by default)');
    await assert.rejects(open(), /503/);
    const sent = received.length;
    ws.terminate();
    assert.equal(received.length, sent);
    await reload({ read_only: { enabled: false } });
  });

  test('websocket turned off for the route: an open socket is closed within the re-check interval', async () => {
    const { closed } = await open();
    await reload({ operations: { chat: { websocket: { enabled: false } } } });
    assert.equal(await Promise.race([closed, sleep(4000).then(() => 0)]), 1008);
    await reload({ operations: {} });
  });

  test('an unrelated reload leaves an open socket relaying', async () => {
    const { ws } = await open();
    await reload({ read_only: { enabled: false, retry_after_seconds: 60 } });
    const replies: string[] = [];
    ws.on('message', (data) => replies.push(String(data)));
    await sleep(1500);
    ws.send('hello');
    const deadline = Date.now() + 3000;
    while (replies.length < 1 && Date.now() < deadline) await sleep(20);
    assert.deepEqual(replies, ['done:hello']);
    ws.terminate();
  });
});
