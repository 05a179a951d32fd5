/**
 * Scale-out: two gateway instances share Redis pub/sub. A block placed on one is enforced by the other within 1 s,
 * and lifting it on one reaches the other as well. Containment applied by one instance's responders (key
 * suspension, JWT subject revocation, rate-limit tightening) reaches the other within 1 s over the invalidation bus
 * (`counters.kind: redis`), and reverting it does too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream } from './helpers/upstream.ts';
import { startTestIssuer } from './helpers/jwt-issuer.ts';
import { ADMIN_TOKEN, STORE_ENCRYPTION, TEST_ENV, adminCall } from './helpers/apikeys.ts';

const PG_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN = { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }] };

/** Polls `probe` (bounded: 1 s, 50 tries) until it answers `status`. */
async function within1s(probe: () => Promise<number>, status: number, what: string): Promise<void> {
  const started = Date.now();
  for (let i = 0; i < 50 && Date.now() - started < 1000; i++) {
    if ((await probe()) === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what}: no ${status} within 1 s`);
}

test('a block placed on instance A is enforced by instance B within 1 s, and lifted likewise', { timeout: 30_000 }, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const channel = `rampart-test:${randomBytes(6).toString('hex')}`;
  const config = {
    trusted_proxies: ['127.0.0.1'],
    upstreams: { up: { url: upstream.url } },
    apis: [{ name: 'shop', passthrough: true, upstream: 'up' }],
    monitor: { fanout: { redis_url: 'redis://127.0.0.1:6379', channel } },
    admin: ADMIN,
  };
  const a = await startGateway(config, { env: TEST_ENV });
  t.after(() => a.close());
  const b = await startGateway(config, { env: TEST_ENV });
  t.after(() => b.close());
  const ip = '198.51.100.77';
  const statusOn = async (url: string) => (await fetch(url + '/x', { headers: { 'x-forwarded-for': ip } })).status;
  assert.equal(await statusOn(b.url), 200);

  await a.gateway.monitor.block({ ip, until: Date.now() + 60_000, reason: 'test', incidentId: 'inc_test' });
  const waitFor = async (status: number) => {
    const started = Date.now();
    while (Date.now() - started < 1000) {
      if ((await statusOn(b.url)) === status) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`instance B did not answer ${status} within 1 s`);
  };
  await waitFor(403);
  assert.equal(await statusOn(a.url), 403);

  const lifted = await fetch(`${a.adminUrl}/admin/v1/blocks/${ip}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(lifted.status, 200);
  await waitFor(200);
});

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
    bearer: { type: http, scheme: bearer }
security: [ { apiKey: [] }, { bearer: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
`;

test('containment on instance A (suspend key, revoke subject, tighten consumer) reaches instance B within 1 s, and so does its reversal', { timeout: 60_000 }, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const issuer = await startTestIssuer('items-api');
  t.after(() => issuer.close());
  const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
  t.after(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });
  const env = { ...TEST_ENV, T_DB: PG_URL, T_PEPPER: 'p'.repeat(48) };
  const config = {
    upstreams: { main: { url: upstream.url } },
    apis: [
      {
        name: 'items',
        spec: './items.yaml',
        upstream: 'main',
        response: { mode: 'off' },
        auth: { api_keys: true, jwt: { issuers: [{ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks`, audience: 'items-api' }] } },
        rate_limits: [{ name: 'per-consumer', key: 'consumer', limit: '40/min' }],
      },
    ],
    admin: ADMIN,
    store: { kind: 'postgres', url: '${env:T_DB}', schema, encryption: STORE_ENCRYPTION },
    auth_keys: { pepper: '${env:T_PEPPER}', recheck_interval_ms: 30_000, cache_ttl_ms: 60_000 },
    counters: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: `rampart_test_${randomBytes(6).toString('hex')}:` },
    monitor: { enabled: false },
  };
  const gws: TestGateway[] = [];
  t.after(() => Promise.all(gws.map((g) => g.close())));
  for (let i = 0; i < 2; i++) gws.push(await startGateway(config, { files: { 'items.yaml': SPEC }, env }));
  const [a, b] = gws as [TestGateway, TestGateway];
  const responders = a.gateway.monitor.responders;

  assert.equal((await adminCall(a.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc', name: 'Svc' })).status, 201);
  const created = await adminCall(a.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc' });
  const key = String(created.json['key']);
  const keyId = String(created.json['id']);
  const withKey = async (gw: TestGateway) => {
    const res = await fetch(`${gw.url}/items`, { headers: { 'x-api-key': key } });
    await res.arrayBuffer();
    return res.status;
  };
  assert.equal(await withKey(b), 200, 'B accepts (and caches) the key');
  await responders.keys!.suspendKey(keyId, 'test incident');
  await within1s(() => withKey(b), 401, 'B refuses the suspended key');
  await responders.keys!.reinstateKey(keyId, 'ops');
  await within1s(() => withKey(b), 200, 'B accepts the reinstated key');

  const token = await issuer.sign({ sub: 'u-mallory' });
  const other = await issuer.sign({ sub: 'u-fine' });
  const withToken = async (gw: TestGateway, jwt: string) => {
    const res = await fetch(`${gw.url}/items`, { headers: { authorization: `Bearer ${jwt}` } });
    await res.arrayBuffer();
    return res.status;
  };
  assert.equal(await withToken(b, token), 200);
  await responders.tokens!.revokeTokensBefore('u-mallory', Date.now(), 'test incident');
  await within1s(() => withToken(b, token), 401, "B refuses the subject's earlier token");
  assert.equal(await withToken(b, other), 200, 'another subject is unaffected');
  await responders.tokens!.unrevoke('u-mallory', 'ops');
  await within1s(() => withToken(b, token), 200, 'B accepts the token again');

  await responders.rates!.tighten('svc', 0.1, Date.now() + 60_000, 'test incident');
  const tightenedOnB = () => Promise.resolve(b.gateway.services.counters!.tightened.factorFor('svc', Date.now()) === 0.1 ? 1 : 0);
  await within1s(tightenedOnB, 1, 'B learns the tightening');
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push(await withKey(b));
  assert.deepEqual(statuses, [200, 200, 200, 200, 429], 'B applies the tightened limit (40/min × 0.1 = 4)');
  await responders.rates!.relax('svc', 'ops');
  await within1s(() => withKey(b), 200, 'B restores the configured limit');
});
