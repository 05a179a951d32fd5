/**
 * Server-sent events through a real gateway from a real streaming upstream: an operation that declares
 * `text/event-stream` streams without buffering (the first event reaches the client while the upstream is still
 * writing), each event checked against its schema and minimised; a bad event ends the stream; an event stream on an
 * operation that declares none is refused at once; the upstream's body timeout ends a stalled stream; passthrough
 * APIs stream as they are.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { assertProblem } from './helpers/http.ts';
import { send } from './helpers/gateway-fixtures.ts';

const SPEC = `openapi: 3.1.0
info: { title: feed, version: 1.0.0 }
paths:
  /events:
    get:
      operationId: events
      responses:
        '200':
          description: a stream of counters
          content:
            text/event-stream:
              schema: { type: object, required: [n], properties: { n: { type: integer }, note: { type: string } } }
  /bad:
    get:
      operationId: bad
      responses:
        '200': { description: s, content: { text/event-stream: { schema: { type: object, required: [n], properties: { n: { type: integer } } } } } }
  /stall:
    get:
      operationId: stall
      responses:
        '200': { description: s, content: { text/event-stream: {} } }
  /json:
    get:
      operationId: json
      responses:
        '200': { description: j, content: { application/json: { schema: { type: object } } } }
`;

interface Feed {
  readonly url: string;
  /** Resolves the upstream's wait after the first event of /events. */
  release: () => void;
  close(): Promise<void>;
}

async function startFeed(): Promise<Feed> {
  let release = () => {};
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const sse = () => res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (req.url === '/events') {
      sse();
      res.write(': a heartbeat comment\n\nid: 1\nevent: tick\ndata: {"n":1,"secret":"internal"}\n\n');
      // The rest only once the test has seen the first event through the gateway: proof that nothing is buffered.
      new Promise<void>((resolve) => (release = resolve)).then(() => {
        res.write('retry: 5000\n\ndata: {"n":2,\ndata: "note":"two lines"}\n\n');
        res.end('data: {"n":3}\n\n');
      });
    } else if (req.url === '/bad') {
      sse();
      res.write('data: {"n":1}\n\n');
      setTimeout(() => res.end('data: {"n":"not a number","leak":"x"}\n\ndata: {"n":3}\n\n'), 50);
    } else if (req.url === '/stall' || req.url === '/pass') {
      sse();
      res.write('data: first\n\n');
    } else if (req.url === '/json') {
      sse();
      res.write('data: {}\n\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release: () => release(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads an SSE response through the gateway chunk by chunk; `onText` sees the text received so far. */
function stream(base: string, path: string, onText?: (text: string) => void): Promise<{ status: number; type: string; text: string; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = request({ host: url.hostname, port: url.port, path, headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        onText?.(text);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text, aborted: false }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text, aborted: true }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text, aborted: true }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.end();
  });
}

describe('server-sent events', () => {
  let feed: Feed;
  let gw: TestGateway;
  let passthrough: TestGateway;
  before(async () => {
    feed = await startFeed();
    gw = await startGateway(
      { monitor: { enabled: false }, upstreams: { feed: { url: feed.url, body_timeout_ms: 400 } }, apis: [{ name: 'feed', spec: './feed.yaml', upstream: 'feed' }] },
      { files: { 'feed.yaml': SPEC } },
    );
    passthrough = await startGateway({ monitor: { enabled: false }, upstreams: { feed: { url: feed.url, body_timeout_ms: 400 } }, apis: [{ name: 'p', passthrough: true, upstream: 'feed', response: { event_streams: 'passthrough' } }] });
  });
  after(async () => {
    await gw?.close();
    await passthrough?.close();
    await feed?.close();
  });

  test('a declared event stream flows unbuffered, each event checked and minimised, comments (heartbeats) passed', async () => {
    let released = false;
    const result = await stream(gw.url, '/events', (text) => {
      if (!released && text.includes('"n":1')) {
        released = true;
        feed.release();
      }
    });
    assert.ok(released, 'the first event arrived while the upstream was still holding the rest');
    assert.equal(result.status, 200);
    assert.match(result.type, /^text\/event-stream/);
    assert.equal(result.text, ': a heartbeat comment\nid: 1\nevent: tick\ndata: {"n":1}\n\nretry: 5000\n\ndata: {"n":2,"note":"two lines"}\n\ndata: {"n":3}\n\n');
    assert.ok(!result.text.includes('internal'), 'undeclared property removed');
  });

  test('an event that breaks its schema ends the stream there: nothing after it reaches the client', async () => {
    const result = await stream(gw.url, '/bad');
    assert.equal(result.status, 200);
    assert.ok(result.text.startsWith('data: {"n":1}\n\n'));
    assert.ok(!result.text.includes('not a number') && !result.text.includes('"n":3') && !result.text.includes('leak'), result.text);
    assert.ok(result.aborted, 'the stream was cut, not ended as if complete');
  });

  test('an event stream where the operation declares JSON is a 502 at once; a stalled stream ends at the body timeout', async () => {
    assertProblem(await send(gw.url, '/json', { timeoutMs: 3000 }), 502, 'upstream_invalid_response');
    const stalled = await stream(gw.url, '/stall');
    assert.equal(stalled.status, 200);
    assert.equal(stalled.text, 'data: first\n\n', 'declared without a schema: passed as sent');
    assert.ok(stalled.aborted, 'cut after body_timeout_ms of silence');
  });

  test('with event_streams: passthrough a passthrough API streams them as sent; without, they are refused', async () => {
    const result = await stream(passthrough.url, '/pass');
    assert.equal(result.text, 'data: first\n\n');
    const strict = await startGateway({ monitor: { enabled: false }, upstreams: { feed: { url: feed.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'feed' }] });
    try {
      assertProblem(await send(strict.url, '/pass', { timeoutMs: 3000 }), 502, 'upstream_invalid_response');
    } finally {
      await strict.close();
    }
  });
});
