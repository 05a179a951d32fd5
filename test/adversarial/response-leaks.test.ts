/**
 * Class: the response carries no byte the contract does not allow, and a denied read is indistinguishable from a
 * missing object. HEAD must not skip response-side ownership; an upstream 404 and Rampart's "not yours" must be
 * the same bytes; undeclared response headers (Set-Cookie, internal tokens, debug headers) never reach the client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { send } from '../helpers/gateway-fixtures.ts';
import { ADMIN_TOKEN, TEST_ENV, adminCall, keysConfig } from '../helpers/apikeys.ts';
import { assertAlive, assertProblem } from '../helpers/http.ts';

const SPEC = `openapi: 3.1.0
info: { title: orders, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
  schemas:
    Order:
      type: object
      properties: { id: { type: string }, owner: { type: string }, total: { type: integer } }
security: [{ apiKey: [] }]
paths:
  /orders/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
    get:
      operationId: getOrder
      x-rampart-owner: { response: "response.body.owner == identity.subject" }
      responses:
        '200':
          description: the order
          headers:
            X-Order-Version: { schema: { type: string } }
          content: { application/json: { schema: { $ref: '#/components/schemas/Order' } } }
        '404': { description: no such order }
  /session:
    post:
      operationId: login
      responses:
        '200':
          description: logged in
          headers:
            Set-Cookie: { schema: { type: string } }
          content: { application/json: { schema: { type: object } } }
  /profile:
    get:
      operationId: getProfile
      responses:
        '200': { description: profile, content: { application/json: { schema: { type: object, properties: { name: { type: string } } } } } }
`;

const ORDERS: Record<string, { id: string; owner: string; total: number }> = {
  'ord-1': { id: 'ord-1', owner: 'alice', total: 10 },
  'ord-2': { id: 'ord-2', owner: 'bob', total: 99 },
};

describe('response leaks', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let alice = '';

  before(async () => {
    upstream = await startUpstream();
    // A naive upstream: no ownership checks, answers HEAD like GET (with the length), leaks internal headers.
    upstream.handler = (req, res) => {
      const extra = { 'x-internal-token': 'tok-123', 'x-debug': 'sql=SELECT *', 'server-timing': 'db;dur=53', 'set-cookie': 'internal=1' };
      const url = req.url ?? '';
      if (url.startsWith('/orders/')) {
        const order = ORDERS[url.slice('/orders/'.length)];
        if (!order) {
          res.writeHead(404, { 'content-type': 'text/html', ...extra });
          res.end('<h1>Order not found in table orders</h1>');
          return;
        }
        const body = JSON.stringify({ ...order, internalNote: 'vip' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-order-version': '7', ...extra });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (url === '/session') {
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'sid=abc; HttpOnly', ...{ 'x-debug': 'on' } });
        res.end('{}');
        return;
      }
      if (url === '/profile') {
        const twice = req.headers['x-twice'] === '1';
        res.writeHead(200, [['content-type', 'application/json'], ...(twice ? [['content-type', 'text/html']] : []), ['set-cookie', 'tracking=1'], ['x-internal-token', 'tok-123']]);
        res.end('{"name":"Alice"}');
        return;
      }
      res.writeHead(500);
      res.end();
    };
    const config = keysConfig(upstream.url, { monitor: { enabled: false } });
    const apis = config['apis'] as Record<string, unknown>[];
    apis[0] = { ...apis[0], spec: './orders.yaml', response: { mode: 'enforce' } };
    gw = await startGateway(config, { files: { 'orders.yaml': SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'alice', name: 'Alice' })).status, 201);
    const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'alice' });
    alice = String(created.json['key']);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const as = (method = 'GET', headers: Record<string, string> = {}) => ({ method, headers: { 'x-api-key': alice, ...headers } });

  test('HEAD on another user’s order is denied like GET; the upstream saw a GET, not a HEAD', async () => {
    const before = upstream.seen.length;
    const head = await send(gw.url, '/orders/ord-2', as('HEAD'));
    assert.equal(head.status, 404);
    assert.equal(head.body, '', 'no body on HEAD');
    assert.equal(upstream.seen.at(-1)?.method, 'GET', 'HEAD is fetched upstream as GET on ownership-checked routes');
    assert.equal(upstream.seen.length, before + 1);
    assertProblem(await send(gw.url, '/orders/ord-2', as()), 404, 'not_found');
  });

  test('HEAD on one’s own order → 200 with the content-length of the GET answer and no body', async () => {
    const get = await send(gw.url, '/orders/ord-1', as());
    assert.equal(get.status, 200);
    assert.deepEqual(JSON.parse(get.body), { id: 'ord-1', owner: 'alice', total: 10 }, 'undeclared internalNote removed');
    const head = await send(gw.url, '/orders/ord-1', as('HEAD'));
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)));
    assert.notEqual(head.headers['content-length'], '0');
  });

  test('a missing order and someone else’s order answer byte-identical problems (apart from the request id)', async () => {
    const id = 'fixed-request-id-0001';
    const missing = await send(gw.url, '/orders/ord-404', as('GET', { 'x-request-id': id }));
    const foreign = await send(gw.url, '/orders/ord-2', as('GET', { 'x-request-id': id }));
    assertProblem(missing, 404, 'not_found');
    assert.equal(missing.body, foreign.body, 'same body bytes');
    const strip = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'date'));
    assert.deepEqual(strip(missing.headers), strip(foreign.headers), 'same headers');
    assert.doesNotMatch(missing.body, /table orders/);
  });

  test('undeclared upstream headers are removed; declared ones and the safe list pass', async () => {
    const res = await send(gw.url, '/orders/ord-1', as());
    assert.equal(res.status, 200);
    for (const name of ['x-internal-token', 'x-debug', 'server-timing', 'set-cookie']) assert.equal(res.headers[name], undefined, `${name} must not pass`);
    assert.equal(res.headers['x-order-version'], '7', 'declared for 200');
    assert.match(String(res.headers['content-type']), /^application\/json/);
  });

  test('Set-Cookie passes only where the operation declares it', async () => {
    const login = await send(gw.url, '/session', as('POST', { 'content-type': 'application/json' }));
    assert.equal(login.status, 200, login.body);
    assert.deepEqual(login.headers['set-cookie'], ['sid=abc; HttpOnly']);
    assert.equal(login.headers['x-debug'], undefined);
    const profile = await send(gw.url, '/profile', as());
    assert.equal(profile.status, 200);
    assert.equal(profile.headers['set-cookie'], undefined);
    assert.equal(profile.headers['x-internal-token'], undefined);
  });

  test('a repeated Content-Type from the upstream is a non-conforming response → 502', async () => {
    assertProblem(await send(gw.url, '/profile', as('GET', { 'x-twice': '1' })), 502, 'upstream_invalid_response');
    await assertAlive(gw.adminUrl);
  });
});
