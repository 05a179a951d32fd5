/**
 * Self-service API keys through a real gateway: a user with a token creates, lists and revokes keys of their own
 * (scopes a subset of the token's, lifetime and count capped, the secret shown once, every action an admin event),
 * and cannot use a key to mint keys, take over an admin's consumer, exceed the cap in parallel, or touch another
 * user's keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, adminCall, TEST_ENV } from './helpers/apikeys.ts';
import { eventually, problemOf, send } from './helpers/gateway-fixtures.ts';

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { bearer: [] }, { apiKey: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
`;

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;
before(async () => {
  issuer = await startTestIssuer('items-api');
  upstream = await startUpstream();
  gw = await startGateway(
    {
      monitor: { enabled: false },
      admin: ADMIN_CONFIG,
      upstreams: { main: { url: upstream.url } },
      apis: [
        {
          name: 'items',
          spec: './items.yaml',
          upstream: 'main',
          response: { mode: 'off' },
          auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] }, api_keys: true, failure_backoff: { enabled: false } },
          self_service_keys: { enabled: true, max_keys: 3, max_ttl_days: 30, default_ttl_days: 7 },
        },
      ],
    },
    { files: { 'items.yaml': SPEC }, env: TEST_ENV },
  );
});
after(async () => {
  await gw?.close();
  await upstream?.close();
  await issuer?.close();
});

const token = (sub: string, scope = 'items:read items:write') => issuer.sign({ sub, scope, roles: ['user'], tenant: 'acme' });
const create = async (bearer: string, body: Record<string, unknown> = {}) =>
  send(gw.url, '/me/api-keys', { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('self-service API keys', () => {
  test('create (secret once), use, list (no secrets), revoke; the key is refused after revocation', async () => {
    const alice = await token('alice');
    const created = await create(alice, { name: 'laptop', scopes: ['items:read'], ttl_days: 10 });
    assert.equal(created.status, 201);
    const body = created.json() as { id: string; key: string; scopes: string[]; expires_at: string; status: string };
    assert.match(body.key, /^rk_live_/);
    assert.deepEqual(body.scopes, ['items:read']);
    assert.equal(body.status, 'active');
    const days = (Date.parse(body.expires_at) - Date.now()) / 86_400_000;
    assert.ok(days > 9.9 && days <= 10, `expires in ${days} days`);
    assert.equal(created.headers['cache-control'], 'no-store');

    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': body.key } })).status, 200);
    const list = await send(gw.url, '/me/api-keys', { headers: { authorization: `Bearer ${alice}` } });
    assert.equal(list.status, 200);
    assert.ok(!list.body.includes(body.key) && !list.body.includes('"key"'), 'never the secret again');
    assert.deepEqual((list.json() as { keys: { id: string; name: string }[] }).keys.map((k) => [k.id, k.name]), [[body.id, 'laptop']]);

    const revoked = await send(gw.url, `/me/api-keys/${body.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${alice}` } });
    assert.equal(revoked.status, 200);
    assert.equal((revoked.json() as { status: string }).status, 'revoked');
    assert.ok(await eventually(async () => (await send(gw.url, '/items', { headers: { 'x-api-key': body.key } })).status === 401, 3000), 'a revoked key is refused');

    const events = await adminCall(gw.adminUrl, 'GET', '/events', ADMIN_TOKEN);
    const mine = (events.json['items'] as { actor: string; action: string }[]).filter((e) => e.actor === `self:alice (${issuer.issuer})`).map((e) => e.action);
    assert.deepEqual(mine.sort(), ['consumer.create', 'key.create', 'key.revoke']);
  });

  test('attacks: scopes beyond the token, a key minting keys, no credential, another user\'s key, a lifetime over the cap', async () => {
    const bob = await token('bob', 'items:read');
    assert.equal((await create(bob, { scopes: ['items:read', 'items:write'] })).status, 403, 'scopes beyond the token');
    const ok = (await create(bob)).json() as { id: string; key: string; scopes: string[] };
    assert.deepEqual(ok.scopes, ['items:read'], 'default: the token\'s scopes');
    const byKey = await send(gw.url, '/me/api-keys', { method: 'POST', headers: { 'x-api-key': ok.key, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(byKey.status, 401, 'the endpoints take tokens only: a key cannot mint keys');
    assert.equal((await send(gw.url, '/me/api-keys', { headers: {} })).status, 401);
    const mallory = await token('mallory');
    const foreign = await send(gw.url, `/me/api-keys/${ok.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${mallory}` } });
    assert.equal(foreign.status, 404, 'another user\'s key is not found');
    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': ok.key } })).status, 200, 'and still works');
    const long = await create(bob, { ttl_days: 365 });
    assert.equal(long.status, 400);
    assert.equal(problemOf(long.json()).code, 'validation_failed');
    assert.equal((await create(bob, { scopes: ['items:read'], extra: 1 })).status, 400, 'undeclared fields refused');
  });

  test('the cap holds for parallel creates', async () => {
    const carol = await token('carol');
    const results = await Promise.all(Array.from({ length: 8 }, () => create(carol)));
    assert.equal(results.filter((r) => r.status === 201).length, 3);
    assert.ok(results.filter((r) => r.status !== 201).every((r) => r.status === 409));
  });

  test('an admin-created consumer is never taken over by a token holder whose subject matches', async () => {
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'ops-admin', name: 'Ops', roles: ['admin'] })).status, 201);
    const res = await create(await token('ops-admin'));
    assert.equal(res.status, 409);
  });
});
