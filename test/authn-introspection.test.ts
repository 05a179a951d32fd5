/**
 * Opaque-token authentication through a real gateway and a local RFC 7662 endpoint: active, inactive, endpoint
 * down (deny, upstream not reached), cache, and JWT + introspection side by side.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { problemOf, send } from './helpers/gateway-fixtures.ts';

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: { clientCredentials: { tokenUrl: https://idp.example/token, scopes: {} } }
security:
  - oauth: []
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

let idp: IntrospectionServer;
let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;

before(async () => {
  idp = await startIntrospectionServer('rampart-gw', 'introspect-secret');
  issuer = await startTestIssuer('items-api');
  upstream = await startUpstream();
  gw = await startGateway(
    {
      monitor: { enabled: false },
      upstreams: { main: { url: upstream.url } },
      apis: [
        {
          name: 'items',
          spec: './items.yaml',
          upstream: 'main',
          auth: {
            introspection: { endpoint: idp.url, client_id: 'rampart-gw', client_secret: '${env:INTROSPECT_SECRET}', timeout_ms: 300 },
            jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] },
          },
        },
      ],
    },
    { files: { 'items.yaml': SPEC }, env: { ...process.env, INTROSPECT_SECRET: 'introspect-secret' } },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  await idp?.close();
  await issuer?.close();
});

const get = (token: string) => send(gw.url, '/items', { headers: { authorization: `Bearer ${token}` } });

test('an active opaque token passes; the answer is cached (one introspection call)', async () => {
  idp.tokens.set('opaque-alice-1', { active: true, sub: 'alice', scope: 'orders:read', exp: Math.floor(Date.now() / 1000) + 300 });
  const start = idp.calls();
  assert.equal((await get('opaque-alice-1')).status, 200);
  assert.equal((await get('opaque-alice-1')).status, 200);
  assert.equal(idp.calls() - start, 1);
});

test('an inactive or unknown token is 401 invalid_token and never reaches the upstream', async () => {
  idp.tokens.set('opaque-revoked', { active: false });
  for (const token of ['opaque-revoked', 'opaque-never-issued']) {
    const before = upstream.seen.length;
    const res = await get(token);
    assert.equal(res.status, 401);
    assert.equal(problemOf(res.json()).code, 'invalid_token');
    assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal(upstream.seen.length, before);
  }
});

test('introspection endpoint down or slow: denied (503), upstream not reached, nothing leaked', async () => {
  idp.tokens.set('opaque-bob', { active: true, sub: 'bob' });
  for (const mode of ['down', 'slow'] as const) {
    if (mode === 'down') idp.down = true;
    else idp.delayMs = 1000;
    try {
      const before = upstream.seen.length;
      const res = await get('opaque-bob');
      assert.equal(res.status, 503, mode);
      assert.equal(problemOf(res.json()).code, 'service_unavailable');
      assert.equal(upstream.seen.length, before, `${mode}: upstream must not be reached`);
    } finally {
      idp.down = false;
      idp.delayMs = 0;
    }
  }
  assert.equal((await get('opaque-bob')).status, 200, 'recovers once the endpoint answers');
  assert.ok(!gw.rawLogs().includes('introspect-secret'), 'client secret never logged');
  assert.ok(!gw.rawLogs().includes('opaque-bob'), 'token never logged');
});

test('JWTs go to the JWT verifier, opaque tokens to introspection', async () => {
  const start = idp.calls();
  assert.equal((await get(await issuer.sign({}))).status, 200);
  assert.equal(idp.calls(), start, 'no introspection call for a JWT');
  assert.equal((await get(await issuer.sign({ aud: 'wrong' }))).status, 401, 'a bad JWT is not retried by introspection');
  assert.equal(idp.calls(), start);
});
