/**
 * Owner lookups (referenced-object ownership) through a real gateway in front of a plain upstream: the object a
 * request body names is read from the upstream as the caller, the rule decides, and a denied or failed lookup
 * never lets the request reach the upstream's write operation.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runCheck } from '../../cli/check.ts';
import { startGateway, type TestGateway } from '../../../test/helpers/gateway.ts';
import { send, type RawResponse } from '../../../test/helpers/gateway-fixtures.ts';
import { startTestIssuer, type TestIssuer } from '../../../test/helpers/jwt-issuer.ts';
import { startUpstream, type TestUpstream } from '../../../test/helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
security: [{ bearer: [] }]
paths:
  /accounts/{accountId}:
    get:
      operationId: getAccount
      parameters:
        - { name: accountId, in: path, required: true, schema: { type: string, pattern: '^a[a-z0-9-]{0,30}$' } }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /orders:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [accountId]
              properties: { accountId: { type: string }, item: { type: string } }
      responses: { '201': { description: created, content: { application/json: { schema: { type: object } } } } }
`;

const ACCOUNTS: Record<string, { tenant: string; owner: string }> = {
  'a-mine': { tenant: 't1', owner: 'u1' },
  'a-other': { tenant: 't2', owner: 'u9' },
};

let upstream: TestUpstream;
let issuer: TestIssuer;
let gw: TestGateway;
let u1 = '';
let u2 = '';
const held: ServerResponse[] = [];

function apiConfig(extraApi: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { main: { url: upstream.url } },
    apis: [
      {
        name: 'shop',
        spec: './shop.yaml',
        upstream: 'main',
        auth: { jwt: { issuers: [{ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks`, audience: 'items-api' }] } },
        response: { mode: 'off' },
        owner_rules: { getAccount: 'response.body.tenant == identity.tenant' },
        operations: {
          createOrder: {
            owner_lookup: { from: 'body.accountId', operation: 'getAccount', rule: 'object.tenant == identity.tenant && object.owner == identity.subject', timeout_ms: 300 },
          },
        },
        ...extraApi,
      },
    ],
    monitor: { enabled: false },
  };
}

before(async () => {
  upstream = await startUpstream();
  upstream.handler = (req, res) => {
    const url = req.url ?? '';
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && url === '/orders') return reply(201, { id: 'o-1' });
    const id = decodeURIComponent(/^\/accounts\/([^/?]+)$/.exec(url)?.[1] ?? '');
    if (id === 'a-boom') return reply(500, { error: 'database down', stack: 'at db.ts:1' });
    if (id === 'a-slow') return void held.push(res);
    if (id === 'a-reset') return void req.socket.destroy();
    if (id === 'a-redirect') return reply(302, {}, { location: '/accounts/a-mine' });
    if (id === 'a-html') return void (res.writeHead(200, { 'content-type': 'text/html' }), res.end('<html>'));
    const account = ACCOUNTS[id];
    if (!account) return reply(404, { error: 'no such account' });
    reply(200, { id, ...account });
  };
  issuer = await startTestIssuer('items-api');
  gw = await startGateway(apiConfig(), { files: { 'shop.yaml': SPEC } });
  [u1, u2] = await Promise.all([issuer.sign({ sub: 'u1', tenant: 't1' }), issuer.sign({ sub: 'u2', tenant: 't1' })]);
});

after(async () => {
  for (const res of held) res.destroy();
  await gw?.close();
  await issuer?.close();
  await upstream?.close();
});

const order = (token: string, body: unknown) =>
  send(gw.url, '/orders', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs: 10_000 });

const seenSince = (start: number) => upstream.seen.slice(start).map((r) => `${r.method} ${r.url}`);

function problem(res: RawResponse, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body['type'], `https://rampart.dev/problems/${code}`);
  assert.equal(typeof body['requestId'], 'string');
  return body;
}

describe('owner lookup on a referenced object', () => {
  it('an order on the caller\'s own account passes: the account is read as the caller, then the order is created', async () => {
    const start = upstream.seen.length;
    const res = await order(u1, { accountId: 'a-mine', item: 'bolt' });
    assert.equal(res.status, 201, res.body);
    assert.deepEqual(seenSince(start), ['GET /accounts/a-mine', 'POST /orders']);
    const lookup = upstream.seen[start]!;
    assert.equal(lookup.headers['authorization'], `Bearer ${u1}`, 'the lookup carries the caller\'s own credential');
    assert.equal(typeof lookup.headers['x-rampart-identity'], 'string', 'and Rampart\'s identity assertion');
    assert.equal(lookup.headers['content-type'], undefined, 'no body headers on the GET');
    assert.equal(lookup.body, '');
  });

  it('an order on another tenant\'s account is refused with the ownership 404 and never created', async () => {
    const start = upstream.seen.length;
    const denied = problem(await order(u1, { accountId: 'a-other', item: 'bolt' }), 404, 'not_found');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-other']);
    // The same problem a response-side ownership denial gives (getAccount's owner rule), byte for byte but the id.
    const read = problem(await send(gw.url, '/accounts/a-other', { headers: { authorization: `Bearer ${u1}` } }), 404, 'not_found');
    assert.deepEqual({ ...denied, requestId: '' }, { ...read, requestId: '' });
  });

  it('an account of the caller\'s tenant but another owner fails the rule; the cache is per identity', async () => {
    const start = upstream.seen.length;
    problem(await order(u2, { accountId: 'a-mine' }), 404, 'not_found');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-mine'], 'u2 does not reuse u1\'s cached lookup');
    const again = upstream.seen.length;
    assert.equal((await order(u1, { accountId: 'a-mine' })).status, 201);
    problem(await order(u2, { accountId: 'a-mine' }), 404, 'not_found');
    assert.deepEqual(seenSince(again), ['POST /orders'], 'both lookups served from the 5 s cache');
  });

  it('a missing account (upstream 404) is refused like a foreign one', async () => {
    const start = upstream.seen.length;
    problem(await order(u1, { accountId: 'a-nope' }), 404, 'not_found');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-nope']);
  });

  it('an id that is not a string, or does not fit the lookup parameter, is refused without a lookup', async () => {
    const start = upstream.seen.length;
    problem(await order(u1, { accountId: { $ne: null } }), 404, 'not_found');
    problem(await order(u1, { accountId: ['a-mine', 'a-other'] }), 404, 'not_found');
    problem(await order(u1, { accountId: '../admin' }), 404, 'not_found');
    assert.deepEqual(seenSince(start), []);
  });

  it('a body without the reference gets no lookup and is refused by validation', async () => {
    const start = upstream.seen.length;
    problem(await order(u1, { item: 'bolt' }), 400, 'validation_failed');
    assert.deepEqual(seenSince(start), []);
  });

  it('fail closed: a lookup answering 500 denies with 502 and leaks nothing', async () => {
    const start = upstream.seen.length;
    const res = await order(u1, { accountId: 'a-boom' });
    problem(res, 503, 'upstream_unavailable');
    assert.doesNotMatch(res.body, /database|stack|a-boom/);
    assert.deepEqual(seenSince(start), ['GET /accounts/a-boom']);
  });

  it('fail closed: a lookup slower than timeout_ms denies with 504', async () => {
    const start = upstream.seen.length;
    const began = Date.now();
    problem(await order(u1, { accountId: 'a-slow' }), 504, 'upstream_timeout');
    assert.ok(Date.now() - began < 3000, 'denied at the lookup timeout, not the upstream\'s');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-slow']);
  });

  it('fail closed: a redirect is not followed and a non-JSON answer is not trusted', async () => {
    const start = upstream.seen.length;
    problem(await order(u1, { accountId: 'a-redirect' }), 503, 'upstream_unavailable');
    problem(await order(u1, { accountId: 'a-html' }), 502, 'upstream_invalid_response');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-redirect', 'GET /accounts/a-html']);
  });

  it('fail closed: a lookup connection cut by the upstream denies with 502', async () => {
    const start = upstream.seen.length;
    problem(await order(u1, { accountId: 'a-reset' }), 503, 'upstream_unavailable');
    assert.deepEqual(seenSince(start), ['GET /accounts/a-reset']);
  });
});

describe('owner lookup configuration', () => {
  it('`rampart check` shows the lookup in the operation\'s ownership column', async () => {
    let text = '';
    const out = new Writable({ write: (chunk: Buffer, _enc, cb) => ((text += chunk.toString('utf8')), cb()) });
    assert.equal(await runCheck(gw.configFile, out), 0);
    const row = text.split('\n').find((line) => line.startsWith('shop ') && line.split(/\s{2,}/)[1] === 'createOrder') ?? '';
    assert.equal(row.split(/\s{2,}/).at(-1), 'lookup getAccount(body.accountId): object.tenant == identity.tenant && object.owner == identity.subject', text);
  });

  const start = (api: Record<string, unknown>, spec = SPEC) => startGateway(apiConfig(api), { files: { 'shop.yaml': spec } }).then((g) => g.close());

  it('an unknown or non-GET lookup operation stops start-up naming the config path', async () => {
    const lookup = (over: Record<string, unknown>) => ({ operations: { createOrder: { owner_lookup: { from: 'body.accountId', operation: 'getAccount', rule: 'true', ...over } } } });
    await assert.rejects(start(lookup({ operation: 'readAccount' })), /apis\[0\]\.operations\.createOrder\.owner_lookup\.operation: no operation "readAccount"/);
    await assert.rejects(start(lookup({ operation: 'createOrder' })), /owner_lookup\.operation: "createOrder" is POST; a lookup must be a GET operation/);
    await assert.rejects(start(lookup({ param: 'id' })), /owner_lookup\.param: "getAccount" has no path parameter "id"/);
    await assert.rejects(start(lookup({ rule: 'response.body.x == 1' })), /owner_lookup\.rule: invalid CEL rule/);
  });

  it('the spec extension is checked like the config, and the config wins over it', async () => {
    const withExtension = (extension: string) => SPEC.replace('      operationId: createOrder\n', `      operationId: createOrder\n      x-rampart-owner-lookup: ${extension}\n`);
    await assert.rejects(start({ operations: {} }, withExtension('{ from: body.accountId, rule: "true" }')), /createOrder x-rampart-owner-lookup: must have required property 'operation'/);
    await assert.rejects(start({ operations: {} }, withExtension('{ from: body.accountId, operation: nope, rule: "true" }')), /createOrder x-rampart-owner-lookup\.operation: no operation "nope"/);
    await start({}, withExtension('{ from: body.accountId, operation: nope, rule: "true" }'));
  });
});
