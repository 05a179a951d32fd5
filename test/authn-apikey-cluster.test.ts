/**
 * Two gateway instances sharing PostgreSQL (own random schema, dropped after) and Redis (own random prefix): a key
 * revoked through one instance's admin API is refused by the other within 1 s.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_TOKEN, KEYS_SPEC, STORE_ENCRYPTION, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';

const PG_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
const prefix = `rampart_test_${randomBytes(6).toString('hex')}:`;
let up: TestUpstream;
const gws: TestGateway[] = [];

before(async () => {
  up = await startUpstream();
  const env = { ...TEST_ENV, T_DB: PG_URL, T_PEPPER: 'q'.repeat(48) };
  const config = keysConfig(up.url, {
    store: { kind: 'postgres', url: '${env:T_DB}', schema, encryption: STORE_ENCRYPTION },
    auth_keys: { pepper: '${env:T_PEPPER}', recheck_interval_ms: 30_000, cache_ttl_ms: 60_000 },
    counters: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix },
  });
  for (let i = 0; i < 2; i++) gws.push(await startGateway(config, { files: { 'keys.yaml': KEYS_SPEC }, env }));
});

after(async () => {
  await Promise.all(gws.map((g) => g.close()));
  await up.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

it('a key revoked on instance A is refused by instance B within 1 s (Redis fan-out; the store re-check is set to 30 s)', async () => {
  const [a, b] = gws as [TestGateway, TestGateway];
  assert.equal((await adminCall(a.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-a', name: 'A' })).status, 201);
  const created = await adminCall(a.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-a' });
  const key = String(created.json['key']);
  const warm = await fetch(`${b.url}/items`, { headers: { 'x-api-key': key } });
  assert.equal(warm.status, 200, 'B accepts (and caches) the key');
  await warm.arrayBuffer();
  assert.equal((await adminCall(a.adminUrl, 'POST', `/keys/${String(created.json['id'])}/revoke`, ADMIN_TOKEN)).status, 200);
  const deadline = Date.now() + 1000;
  let status = 0;
  for (let i = 0; i < 50 && Date.now() < deadline; i++) {
    const res = await fetch(`${b.url}/items`, { headers: { 'x-api-key': key } });
    status = res.status;
    await res.arrayBuffer();
    if (status === 401) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 401, 'B refuses the revoked key within 1 s');
});
