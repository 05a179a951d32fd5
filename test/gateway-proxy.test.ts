/**
 * Proxy behaviour of a real gateway in front of a real upstream: header hygiene both ways, forwarding headers and
 * trusted proxies, upstream failures, security headers, request ids, CORS, fail-closed 500s and log redaction.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { eventually, itemsConfig, problemOf, send, SPEC_FILES, type RawResponse } from './helpers/gateway-fixtures.ts';
import { RouteTable } from '../src/pipeline/compile.ts';
import { Router } from '../src/pipeline/router.ts';
import type { CompiledRoute, RequestPolicy } from '../src/pipeline/types.ts';
import { GatewayError } from '../src/problem.ts';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function assertGenericProblem(res: RawResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(problemOf(body).code, code);
  assert.deepEqual(Object.keys(body).sort(), ['requestId', 'status', 'title', 'type']);
  return body;
}

describe('gateway proxy', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    const downPort = await closedPort();
    gw = await startGateway(
      {
        upstreams: {
          main: { url: upstream.url },
          down: { url: `http://127.0.0.1:${downPort}`, connect_timeout_ms: 1000 },
          sluggish: { url: upstream.url, headers_timeout_ms: 200 },
        },
        apis: [
          {
            name: 'items',
            spec: './items.yaml',
            upstream: 'main',
            cors: { allow_origins: ['https://app.example'], allow_credentials: true },
          },
          { name: 'down', spec: './items.yaml', upstream: 'down', base_path: '/down' },
          { name: 'sluggish', spec: './items.yaml', upstream: 'sluggish', base_path: '/sluggish' },
        ],
      },
      { files: SPEC_FILES },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('X-HTTP-Method-Override, client X-Rampart-* and hop-by-hop request headers are stripped before the upstream', async () => {
    const res = await send(gw.url, '/items', {
      headers: {
        'x-http-method-override': 'DELETE',
        'x-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-rampart-identity': 'forged',
        'x-rampart-consumer': 'admin',
        connection: 'keep-alive, x-drop-me',
        'x-drop-me': 'secret-hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-kept': 'yes',
      },
    });
    assert.equal(res.status, 200);
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.method, 'GET');
    for (const name of ['x-http-method-override', 'x-method-override', 'x-http-method', 'x-rampart-identity', 'x-rampart-consumer', 'x-drop-me', 'keep-alive', 'te', 'proxy-authorization']) {
      assert.equal(seen.headers[name], undefined, `${name} must not reach the upstream`);
    }
    assert.equal(seen.headers['x-kept'], 'yes');
  });

  test('X-Forwarded-For/-Proto/-Host are set by the gateway and a spoofed X-Forwarded-For is ignored', async () => {
    const res = await send(gw.url, '/items', { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-real-ip': '6.6.6.6', forwarded: 'for=6.6.6.6' } });
    assert.equal(res.status, 200);
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${new URL(gw.url).port}`);
    assert.equal(seen.headers['x-real-ip'], undefined);
    assert.equal(seen.headers['forwarded'], undefined);
    const access = gw.logs.filter((l) => l['log'] === 'access').at(-1)!;
    assert.equal(access['clientIp'], '127.0.0.1');
  });

  test('banners and hop-by-hop response headers (including those named in Connection) are removed', async () => {
    const res = await send(gw.url, '/items');
    assert.equal(res.status, 200);
    assert.equal(res.headers['server'], undefined);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers['x-secret-hop'], undefined);
    assert.notEqual(res.headers['connection'], 'keep-alive, x-secret-hop');
  });

  test('security headers are on proxied responses; no HSTS over plain HTTP', async () => {
    const res = await send(gw.url, '/items');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['strict-transport-security'], undefined);
  });

  test('security headers and no-store are on error responses', async () => {
    const res = await send(gw.url, '/nowhere');
    assert.equal(res.status, 404);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  test('a well-formed incoming X-Request-Id is echoed and sent upstream', async () => {
    const id = 'req-0123456789abcdef';
    const res = await send(gw.url, '/items', { headers: { 'x-request-id': id } });
    assert.equal(res.headers['x-request-id'], id);
    assert.equal(upstream.seen.at(-1)!.headers['x-request-id'], id);
  });

  test('a malformed X-Request-Id is replaced by a generated one', async () => {
    for (const bad of ['short', 'has spaces in it', '<script>alert(1)</script>', 'x'.repeat(300)]) {
      const res = await send(gw.url, '/items', { headers: { 'x-request-id': bad } });
      const id = String(res.headers['x-request-id']);
      assert.notEqual(id, bad);
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(upstream.seen.at(-1)!.headers['x-request-id'], id);
    }
  });

  test('upstream down → 503 problem', async () => {
    const res = await send(gw.url, '/down/items');
    assertGenericProblem(res, 503, 'upstream_unavailable');
    assert.ok(gw.logs.some((l) => l['code'] === 'upstream_unavailable' && l['level'] === 'error'), 'the cause is logged');
  });

  test('upstream slower than upstreams.<name>.headers_timeout_ms → 504 problem', async () => {
    upstream.handler = (_req, res) => {
      const timer = setTimeout(() => res.end('late'), 2000);
      res.on('close', () => clearTimeout(timer));
    };
    try {
      const res = await send(gw.url, '/sluggish/slow');
      assertGenericProblem(res, 504, 'upstream_timeout');
    } finally {
      upstream.handler = undefined;
    }
  });

  test('CORS preflight from an allowed origin is answered by the gateway (204), never `*` with credentials', async () => {
    const before = upstream.seen.length;
    const res = await send(gw.url, '/items', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.match(String(res.headers['access-control-allow-methods']), /POST/);
    assert.match(String(res.headers['vary']), /Origin/);
    assert.equal(upstream.seen.length, before, 'preflights are not forwarded');
  });

  test('CORS preflight from another origin, or for a disallowed header, is rejected (403)', async () => {
    const before = upstream.seen.length;
    const other = await send(gw.url, '/items', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    assertGenericProblem(other, 403, 'cors_rejected');
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const header = await send(gw.url, '/items', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-evil' },
    });
    assertGenericProblem(header, 403, 'cors_rejected');
    assert.equal(upstream.seen.length, before);
  });

  test('actual CORS responses carry Allow-Origin only for allowed origins', async () => {
    const ok = await send(gw.url, '/items', { headers: { origin: 'https://app.example' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
    const other = await send(gw.url, '/items', { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test('no secrets in logs: Authorization, Cookie, X-API-Key and ?access_token= never appear; an access-log line does', async () => {
    const secrets = ['Bearer-secret-token-7f3a9', 'cookie-secret-91bd2', 'apikey-secret-c44e1', 'query-secret-5e6f7'];
    const headers = { authorization: `Bearer ${secrets[0]}`, cookie: `session=${secrets[1]}`, 'x-api-key': secrets[2]!, 'x-request-id': 'logcheck-req-0001' };
    await send(gw.url, `/items?access_token=${secrets[3]}`, { headers });
    await send(gw.url, '/items', { headers });
    await send(gw.url, `/nowhere?access_token=${secrets[3]}`, { headers });
    await send(gw.url, `/down/items?access_token=${secrets[3]}`, { headers });
    await send(gw.url, `/items/%2e%2e?access_token=${secrets[3]}`, { headers });
    assert.ok(await eventually(() => gw.logs.filter((l) => l['requestId'] === 'logcheck-req-0001' && l['log'] === 'access').length === 5));
    const text = gw.rawLogs();
    for (const secret of secrets) assert.ok(!text.includes(secret), `log text must not contain ${secret}`);
    const line = gw.logs.find((l) => l['log'] === 'access' && l['requestId'] === 'logcheck-req-0001' && l['status'] === 200)!;
    assert.equal(line['method'], 'GET');
    assert.equal(line['operationId'], 'listItems');
    assert.equal(line['route'], '/items');
    assert.equal(typeof line['latencyMs'], 'number');
    assert.equal(line['clientIp'], '127.0.0.1');
    assert.equal(line['decision'], 'allow');
    const denied = gw.logs.find((l) => l['log'] === 'access' && l['requestId'] === 'logcheck-req-0001' && l['status'] === 404)!;
    assert.equal(denied['decision'], 'deny');
    assert.equal(denied['code'], 'not_found');
  });
});

describe('fail closed: an exception inside a stage', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const LEAK = 'db-password=hunter2 at /srv/internal/secret.ts';

  /** Rebuilds the live route table with `policy` added to every route: a test seam no config can reach. */
  function withPolicy(policy: RequestPolicy): void {
    const current = gw.gateway.handler.table;
    const router = new Router<CompiledRoute>();
    const routes: CompiledRoute[] = [];
    for (const route of current.routes) {
      const patched: CompiledRoute = { ...route, policies: [policy, ...route.policies] };
      router.add(route.method, route.template, patched);
      routes.push(patched);
    }
    const loaded = { config: current.config, file: current.file, watchFiles: current.watchFiles };
    gw.gateway.handler.table = new RouteTable(loaded, [{ api: current.config.apis[0]!, prefix: '/', router }], routes, current.specs, current.securityHeaders, current.trustedProxies);
  }

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url), { files: SPEC_FILES });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const throwers: [string, RequestPolicy][] = [
    ['a synchronous throw', { name: 'boom-sync', stage: 'authorize', run: () => { throw new TypeError(LEAK); } }],
    ['a rejected promise', { name: 'boom-async', stage: 'authenticate', run: async () => { throw new Error(LEAK); } }],
    ['a thrown non-Error', { name: 'boom-string', stage: 'validate', run: () => { throw LEAK; } }],
  ];
  for (const [name, policy] of throwers) {
    test(`${name} → generic 500 problem, nothing leaked, upstream not reached`, async () => {
      withPolicy(policy);
      const before = upstream.seen.length;
      const res = await send(gw.url, '/items');
      const body = assertGenericProblem(res, 500, 'internal');
      assert.equal(body['title'], 'Internal error');
      assert.ok(!res.body.includes('hunter2') && !res.body.includes('/srv/') && !res.body.includes(' at '), res.body);
      assert.equal(upstream.seen.length, before);
      assert.ok(await eventually(() => gw.logs.some((l) => l['requestId'] === body['requestId'] && l['code'] === 'internal' && l['stage'] === policy.name)));
    });
  }

  test('a GatewayError from a stage keeps its own status', async () => {
    withPolicy({ name: 'deny', stage: 'authorize', run: () => { throw new GatewayError('forbidden', LEAK); } });
    const res = await send(gw.url, '/items');
    assertGenericProblem(res, 403, 'forbidden');
    assert.ok(!res.body.includes('hunter2'));
  });
});

describe('trusted proxies', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url, { trusted_proxies: ['127.0.0.1'] }), { files: SPEC_FILES });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('X-Forwarded-For from a trusted proxy is believed and the proxy is appended to the chain', async () => {
    const res = await send(gw.url, '/items', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.at(-1)!.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.ok(await eventually(() => gw.logs.some((l) => l['log'] === 'access' && l['clientIp'] === '203.0.113.9')));
  });

  test('the rightmost untrusted hop is the client, not a spoofed leftmost entry', async () => {
    await send(gw.url, '/items', { headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.4', 'x-request-id': 'trusted-xff-0002' } });
    assert.ok(await eventually(() => gw.logs.some((l) => l['requestId'] === 'trusted-xff-0002' && l['clientIp'] === '198.51.100.4')));
  });
});
