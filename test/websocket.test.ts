/**
 * WebSocket through a real gateway in front of a real WebSocket upstream (the `ws` library on a loopback port):
 * the upgrade passes authentication, rate limits and the origin allowlist (cross-site WebSocket hijacking), then
 * messages are relayed within the size bound, the message rate, the idle timeout; a revoked or expiring credential
 * closes the open connection within the re-check interval; a stop closes it with 1001; an upstream that refuses the
 * upgrade is a 502. Loopback only; every loop is bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startEcho, type EchoUpstream } from './helpers/ws-echo.ts';
import { adminCall, ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV } from './helpers/apikeys.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { startTestIssuer } from './helpers/jwt-issuer.ts';

const SPEC = `openapi: 3.1.0
info: { title: chat, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { apiKey: [] } ]
paths:
  /chat:
    get:
      operationId: chat
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /quiet:
    get:
      operationId: quiet
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /limited:
    get:
      operationId: limited
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /refused:
    get:
      operationId: refused
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /few:
    get:
      operationId: few
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
  /plain:
    get:
      operationId: plain
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

interface Opened {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** Opens a socket through the gateway; rejects with the HTTP status when the upgrade is refused. */
function open(gw: TestGateway, path: string, headers: Record<string, string> = {}, protocols: string[] = []): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + path, protocols, { headers, rejectUnauthorized: false });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body, type: res.headers['content-type'] })));
    });
    ws.once('error', (error) => reject(error));
  });
}

const nextMessage = (ws: WebSocket): Promise<string> => new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms))]);

describe('WebSocket through the gateway', () => {
  let echo: EchoUpstream;
  let gw: TestGateway;
  let key = '';
  let keyId = '';
  const auth = () => ({ 'x-api-key': key });

  before(async () => {
    echo = await startEcho();
    gw = await startGateway(
      {
        monitor: { enabled: false },
        admin: ADMIN_CONFIG,
        upstreams: { chat: { url: echo.url } },
        apis: [
          {
            name: 'chat',
            spec: './chat.yaml',
            upstream: 'chat',
            auth: { api_keys: true },
            websocket: { allow_origins: ['https://app.example'], max_message_bytes: 1024, messages_per_second: 5, burst: 5, recheck_ms: 200 },
            operations: {
              quiet: { websocket: { idle_timeout_ms: 400 } },
              limited: { rate_limits: [{ name: 'upgrades', key: 'api_key', algorithm: 'fixed_window', limit: '2/min' }] },
              few: { concurrency: { max_in_flight: 2, key: 'api_key' } },
            },
          },
        ],
      },
      { files: { 'chat.yaml': SPEC }, env: TEST_ENV },
    );
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'alice', name: 'Alice' })).status, 201);
    const made = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'alice' });
    key = String(made.json['key']);
    keyId = String(made.json['id']);
  });
  after(async () => {
    await gw?.close();
    await echo?.close();
  });

  test('an upgrade without a credential is a 401 problem, and nothing reaches the upstream', async () => {
    const before = echo.handshakes.length;
    await assert.rejects(open(gw, '/chat'), (error: { status: number; body: string; type: string }) => {
      assert.equal(error.status, 401);
      assert.match(error.type, /application\/problem\+json/);
      assert.match(error.body, /"requestId"/);
      return true;
    });
    assert.equal(echo.handshakes.length, before);
  });

  test('with a key: messages are relayed both ways (text and binary), the subprotocol is the upstream\'s, the key is not forwarded', async () => {
    const { ws } = await open(gw, '/chat', auth(), ['chat.v1', 'other']);
    try {
      assert.equal(ws.protocol, 'chat.v1');
      ws.send('hello');
      assert.equal(await nextMessage(ws), 'hello');
      const binary = new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)));
      ws.send(Buffer.from([1, 2, 3]));
      assert.deepEqual([...(await binary)], [1, 2, 3]);
      const seen = echo.handshakes.at(-1)!.headers;
      assert.equal(seen['x-api-key'], undefined, 'the client credential stays at the gateway');
      assert.equal(seen['x-forwarded-for'], '127.0.0.1');
      assert.equal(typeof seen['x-request-id'], 'string');
    } finally {
      ws.close();
    }
  });

  test('cross-site WebSocket hijacking: an Origin not in allow_origins is a 403; the allowed one and none (not a browser) pass', async () => {
    await assert.rejects(open(gw, '/chat', { ...auth(), origin: 'https://evil.example' }), (error: { status: number }) => error.status === 403);
    await assert.rejects(open(gw, '/chat', { ...auth(), origin: 'null' }), (error: { status: number }) => error.status === 403);
    (await open(gw, '/chat', { ...auth(), origin: 'https://app.example' })).ws.close();
    (await open(gw, '/chat', auth())).ws.close();
  });

  test('a message over max_message_bytes closes the connection with 1009; none reaches the upstream', async () => {
    const { ws, closed } = await open(gw, '/chat', auth());
    ws.send('x'.repeat(2048));
    assert.equal((await within(closed, 3000, 'close')).code, 1009);
  });

  test('past the message rate and burst the connection is closed with 1008', async () => {
    const { ws, closed } = await open(gw, '/chat', auth());
    for (let i = 0; i < 20; i++) ws.send(`m${i}`);
    const end = await within(closed, 3000, 'close');
    assert.equal(end.code, 1008);
    assert.equal(end.reason, 'message rate limit');
  });

  test('pings draw on the message rate too: a ping flood closes the connection with 1008', async () => {
    const { ws, closed } = await open(gw, '/chat', auth());
    for (let i = 0; i < 20; i++) ws.ping();
    const end = await within(closed, 3000, 'close');
    assert.deepEqual(end, { code: 1008, reason: 'message rate limit' });
  });

  test('an idle connection is closed after idle_timeout_ms (operation override), not before: its credential passes every re-check', async () => {
    const { closed } = await open(gw, '/quiet', auth());
    const end = await within(closed, 3000, 'idle close');
    assert.deepEqual(end, { code: 1000, reason: 'idle timeout' });
  });

  test('the upgrade request passes the rate limits: the third upgrade within a minute is a 429', async () => {
    (await open(gw, '/limited', auth())).ws.close();
    (await open(gw, '/limited', auth())).ws.close();
    await assert.rejects(open(gw, '/limited', auth()), (error: { status: number }) => error.status === 429);
  });

  test('an open connection holds its concurrency slot until it ends, then releases it', async () => {
    const first = await open(gw, '/few', auth());
    const second = await open(gw, '/few', auth());
    await assert.rejects(open(gw, '/few', auth()), (error: { status: number }) => error.status === 429);
    first.ws.close();
    await first.closed;
    const third = await open(gw, '/few', auth());
    second.ws.close();
    third.ws.close();
    await Promise.all([second.closed, third.closed]);
  });

  test('an operation that takes no upgrade answers 400; an upstream refusing the upgrade is a 502', async () => {
    await assert.rejects(open(gw, '/plain', auth()), (error: { status: number }) => error.status === 400);
    await assert.rejects(open(gw, '/refused', auth()), (error: { status: number }) => error.status === 502);
    assert.equal((await send(gw.url, '/plain', { headers: auth() })).status, 200, 'the same operation still answers HTTP');
  });

  test('a key whose expiry passes, and a revoked key, close the open connection within the re-check interval (1008)', async () => {
    const expiring = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'alice', expires_at: new Date(Date.now() + 1500).toISOString() });
    const short = await open(gw, '/chat', { 'x-api-key': String(expiring.json['key']) });
    await new Promise((r) => setTimeout(r, 500));
    short.ws.send('still here');
    assert.equal(await nextMessage(short.ws), 'still here', 'open past two re-checks, before its expiry');
    assert.deepEqual(await within(short.closed, 4000, 'close at expiry'), { code: 1008, reason: 'credential no longer valid' });

    const { ws, closed } = await open(gw, '/chat', auth());
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      ws.send(`ping ${i}`);
      assert.equal(await nextMessage(ws), `ping ${i}`, 'a valid key survives the re-checks (every 200 ms)');
    }
    const revokedAt = Date.now();
    assert.equal((await adminCall(gw.adminUrl, 'POST', `/keys/${keyId}/revoke`, ADMIN_TOKEN)).status, 200);
    const end = await within(closed, 3000, 'close after revocation');
    assert.equal(end.code, 1008);
    assert.ok(Date.now() - revokedAt < 1500, 'revocation reached the open connection within about a second');
    await assert.rejects(open(gw, '/chat', auth()), (error: { status: number }) => error.status === 401);
  });

  test('the access log records the connection with status 101 when it ends', () => {
    assert.ok(gw.logs.some((l) => l['log'] === 'access' && l['status'] === 101 && l['operationId'] === 'chat'));
  });
});

describe('WebSocket with a token in the query (browsers cannot set headers on a WebSocket)', () => {
  test('the re-checks read the query token again: a valid token keeps the socket open, an expiring one closes it', async () => {
    const echo = await startEcho();
    const issuer = await startTestIssuer('live-api');
    const spec = `openapi: 3.1.0
info: { title: live, version: 1.0.0 }
components: { securitySchemes: { bearer: { type: http, scheme: bearer } } }
security: [ { bearer: [] } ]
paths:
  /live:
    get:
      operationId: live
      x-rampart-websocket: true
      x-rampart-token-query: true
      responses: { '101': { description: switching protocols } }
`;
    const gw = await startGateway(
      {
        monitor: { enabled: false },
        upstreams: { live: { url: echo.url } },
        apis: [{ name: 'live', spec: './live.yaml', upstream: 'live', auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'live-api', jwks_url: `${issuer.url}/jwks`, clock_skew_seconds: 0 }], token_sources: ['header', 'query'] } }, websocket: { recheck_ms: 200 } }],
      },
      { files: { 'live.yaml': spec } },
    );
    try {
      const token = await issuer.sign({ sub: 'alice' });
      const { ws } = await open(gw, `/live?access_token=${token}`);
      await new Promise((r) => setTimeout(r, 600));
      ws.send('still open');
      assert.equal(await nextMessage(ws), 'still open', 'three re-checks passed on the query token');
      assert.ok(!JSON.stringify(echo.handshakes.at(-1)?.headers).includes(token), 'the token is not forwarded upstream');
      ws.close();
      const short = await issuer.sign({ sub: 'alice' }, { ttlSeconds: 1 });
      const expiring = await open(gw, `/live?access_token=${short}`);
      assert.equal((await within(expiring.closed, 4000, 'close at exp')).code, 1008);
    } finally {
      await gw.close();
      await echo.close();
      await issuer.close();
    }
  });
});

describe('WebSocket behind a trusted proxy', () => {
  test('the upstream handshake gets the forwarding headers an HTTP request would: the proxy\'s X-Forwarded-For chain kept', async () => {
    const echo = await startEcho();
    const gw = await startGateway({ monitor: { enabled: false }, trusted_proxies: ['127.0.0.1'], upstreams: { chat: { url: echo.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'chat', websocket: { enabled: true } }] });
    try {
      const { ws } = await open(gw, '/anything', { 'x-forwarded-for': '203.0.113.9' });
      ws.close();
      assert.equal(echo.handshakes.at(-1)!.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
      const direct = await startGateway({ monitor: { enabled: false }, upstreams: { chat: { url: echo.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'chat', websocket: { enabled: true } }] });
      try {
        (await open(direct, '/anything', { 'x-forwarded-for': '203.0.113.9' })).ws.close();
        assert.equal(echo.handshakes.at(-1)!.headers['x-forwarded-for'], '127.0.0.1', 'from an untrusted peer the client\'s chain is not believed');
      } finally {
        await direct.close();
      }
    } finally {
      await gw.close();
      await echo.close();
    }
  });
});

describe('WebSocket drain', () => {
  test('stopping the gateway closes open connections with 1001 and a reason', async () => {
    const echo = await startEcho();
    const gw = await startGateway(
      { monitor: { enabled: false }, upstreams: { chat: { url: echo.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'chat', websocket: { enabled: true } }] },
      {},
    );
    try {
      const { ws, closed } = await open(gw, '/anything');
      ws.send('x');
      assert.equal(await nextMessage(ws), 'x');
      const stopping = gw.close();
      assert.deepEqual(await within(closed, 3000, 'close on stop'), { code: 1001, reason: 'server shutting down' });
      await stopping;
    } finally {
      await echo.close();
    }
  });
});
