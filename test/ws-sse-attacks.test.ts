/**
 * Red-team demonstrations for the WebSocket relay and the server-sent-event check. Each test passes asserting
 * fixed behaviour of what a red-team pass found (each says what used to happen); the others held up. Loopback only, bounded loops.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startGateway, type TestGateway } from './helpers/gateway.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Echo {
  readonly url: string;
  readonly wss: WebSocketServer;
  close(): Promise<void>;
}

async function startEcho(): Promise<Echo> {
  const server: Server = createServer((_q, r) => r.end('{}'));
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b }))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    wss,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Writes raw bytes to the gateway and collects everything until the socket closes (at most 3 s). */
function raw(url: string, data: string): Promise<string> {
  const port = Number(new URL(url).port);
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(data));
    let buf = '';
    s.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    s.on('close', () => resolve(buf));
    s.on('error', () => resolve(buf));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

function openWs(gw: TestGateway, path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + path, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_q, res) => {
      res.resume();
      reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once('error', reject);
  });
}

describe('WebSocket relay', () => {
  let echo: Echo;
  let gw: TestGateway;
  before(async () => {
    echo = await startEcho();
    gw = await startGateway(
      { monitor: { enabled: false }, upstreams: { u: { url: echo.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'u', websocket: { enabled: true, max_connections: 2, max_message_bytes: 1024 } }] },
      {},
    );
  });
  after(async () => {
    await gw?.close();
    await echo?.close();
  });

  // Found by a red-team pass: an upgrade without a valid Sec-WebSocket-Key (or with a malformed subprotocol list)
  // passed the gateway's checks, opened the upstream socket, and was then refused by the ws library, which never
  // called back: the upstream socket, an in-flight slot and the record were lost. Now refused first, as a problem.
  test('a malformed handshake is a 400 problem before any upstream socket opens; nothing leaks', async () => {
    const port = new URL(gw.url).port;
    const upstreamBefore = echo.wss.clients.size;
    const inFlightBefore = gw.gateway.handler.inFlight;
    const base = `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`;
    const bad = [
      `${base}\r\n`,
      `${base}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n`,
      `${base}Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      `${base}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a b\r\n\r\n`,
    ];
    for (const request of bad) {
      const answer = await raw(gw.url, request);
      assert.match(answer, /^HTTP\/1\.1 400 /, request.slice(0, 60));
      assert.match(answer, /application\/problem\+json/);
    }
    await sleep(200);
    assert.equal(echo.wss.clients.size - upstreamBefore, 0, 'no upstream socket opened');
    assert.equal(gw.gateway.handler.inFlight - inFlightBefore, 0, 'no in-flight request left');
  });

  // Found by a red-team pass: max_connections was checked before the stages but counted only once a session
  // existed, so concurrent upgrades all passed. Now a slot is reserved at the check.
  test('concurrent upgrades cannot overshoot max_connections (2)', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => openWs(gw, '/c')));
    const opened = results.filter((r): r is PromiseFulfilledResult<WebSocket> => r.status === 'fulfilled').map((r) => r.value);
    try {
      assert.equal(opened.length, 2, `opened ${opened.length} with max_connections 2`);
      assert.equal(gw.gateway.handler.websockets.size, 2);
    } finally {
      for (const ws of opened) ws.terminate();
      await sleep(100);
    }
    const again = await openWs(gw, '/c');
    again.terminate();
  });

  test('held: Upgrade: WebSocket casing and "Connection: keep-alive, Upgrade" are accepted; messages relay; over-size fragmented message is 1009', async () => {
    const port = new URL(gw.url).port;
    const answer = await raw(gw.url, `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 101 Switching Protocols/);
    const ws = await openWs(gw, '/y');
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    // 3 fragments of 400 bytes: each under 1024, the message over it.
    ws.send('a'.repeat(400), { fin: false });
    ws.send('b'.repeat(400), { fin: false });
    ws.send('c'.repeat(400), { fin: true });
    assert.equal(await closed, 1009);
  });

  test('held: an invalid UTF-8 text frame closes the connection (not relayed)', async () => {
    const ws = await openWs(gw, '/z');
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    // Hand-built masked text frame carrying 0xff (never valid UTF-8).
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from([0xff ^ 1, 0xfe ^ 2]);
    (ws as unknown as { _socket: Socket })._socket.write(Buffer.concat([Buffer.from([0x81, 0x82]), mask, payload]));
    const code = await closed;
    assert.ok(code === 1007 || code === 1008 || code === 1006, `closed with ${code}`);
  });

  test('held: Origin "null" and duplicated Origin headers are refused 403 when allow_origins is set', async () => {
    const other = await startGateway(
      { monitor: { enabled: false }, upstreams: { u: { url: echo.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'u', websocket: { enabled: true, allow_origins: ['https://app.example'] } }] },
      {},
    );
    try {
      const port = new URL(other.url).port;
      const base = `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n`;
      assert.match(await raw(other.url, `${base}Origin: null\r\n\r\n`), /^HTTP\/1\.1 403/);
      assert.match(await raw(other.url, `${base}Origin: https://app.example\r\nOrigin: https://evil.example\r\n\r\n`), /^HTTP\/1\.1 403/);
      assert.match(await raw(other.url, `${base}Origin: https://app.example\r\n\r\n`), /^HTTP\/1\.1 101/);
    } finally {
      await other.close();
    }
  });
});

/** A scripted SSE upstream: each path writes its own body. */
async function startFeed(): Promise<{ url: string; closedEarly: () => number; close(): Promise<void> }> {
  let closedEarly = 0;
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (req.url === '/deep') {
      const depth = 20000;
      res.end(`data: {"n":1,"note":${'['.repeat(depth)}${']'.repeat(depth)}}\n\ndata: {"n":2}\n\n`);
    } else if (req.url === '/heartbeat') {
      // 1.2 MiB of keep-alive comments in 64 KiB writes, then a real event.
      const comment = `: ${'k'.repeat(62)}\n\n`;
      let sent = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (sent >= 1.2 * 1024 * 1024) return void res.end('data: {"n":9}\n\n');
        res.write(comment.repeat(1024));
        sent += comment.length * 1024;
        setImmediate(tick);
      };
      tick();
    } else if (req.url === '/endings') {
      res.end('\ufeffdata: {"n":1}\r\n\r\ndata: {"n":2}\r\rdata: {"n":3}\n\n');
    } else if (req.url === '/hold') {
      res.write('data: {"n":1}\n\n');
      res.on('close', () => closedEarly++);
    } else res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    closedEarly: () => closedEarly,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const FEED_SPEC = `openapi: 3.1.0
info: { title: feed, version: 1.0.0 }
paths:
${['deep', 'heartbeat', 'endings', 'hold']
  .map(
    (p) => `  /${p}:
    get:
      operationId: ${p}
      responses:
        '200': { description: s, content: { text/event-stream: { schema: { type: object, required: [n], properties: { n: { type: integer }, note: { type: array } } } } } }`,
  )
  .join('\n')}
`;

function fetchText(url: string, ms = 4000): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body, error: e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, error: 'aborted' }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    req.setTimeout(ms, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('server-sent events', () => {
  let feed: Awaited<ReturnType<typeof startFeed>>;
  let gw: TestGateway;
  before(async () => {
    feed = await startFeed();
    gw = await startGateway({ monitor: { enabled: false }, upstreams: { f: { url: feed.url } }, apis: [{ name: 'feed', spec: './feed.yaml', upstream: 'f' }] }, { files: { 'feed.yaml': FEED_SPEC } });
  });
  after(async () => {
    await gw?.close();
    await feed?.close();
  });

  // Found by a red-team pass: deeply nested event data made re-serialisation throw inside the transform; now it is a
  // recorded violation that ends the stream.
  test('a deeply nested event ends the stream; the gateway keeps serving', async () => {
    const r = await fetchText(`${gw.url}/deep`);
    assert.doesNotMatch(r.body, /\[\[\[\[/, 'the nested data never reaches the client');
    assert.equal((await fetchText(`${gw.url}/endings`)).status, 200, 'the gateway survives');
  });

  // Found by a red-team pass: comments (heartbeats) were dropped and never reset the per-event byte count, so a
  // stream of heartbeats alone ended as "event too large". Now they pass and count as line ends.
  test('keep-alive comments pass to the client and never add up to a too-large event', async () => {
    const r = await fetchText(`${gw.url}/heartbeat`, 8000);
    assert.equal(r.status, 200);
    assert.match(r.body, /^:/m, 'heartbeats reach the client');
    assert.match(r.body, /"n":9/, 'the event after a megabyte of heartbeats arrives');
  });

  // Found by a red-team pass: a leading byte order mark (SSE says to ignore it) swallowed the first event.
  test('a BOM is ignored: the first event arrives; CRLF and CR endings hold', async () => {
    const r = await fetchText(`${gw.url}/endings`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\n');
  });

  test('held: a client leaving mid-stream releases the upstream', async () => {
    const before = feed.closedEarly();
    await new Promise<void>((resolve) => {
      const req = request(`${gw.url}/hold`, (res) => res.once('data', () => (req.destroy(), resolve())));
      req.end();
    });
    for (let i = 0; i < 50 && feed.closedEarly() === before; i++) await sleep(20);
    assert.equal(feed.closedEarly(), before + 1);
  });
});
