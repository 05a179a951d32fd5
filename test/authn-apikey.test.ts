/**
 * API keys end to end: the admin API creates consumers and keys on a real gateway (SQLite store), real requests
 * carry them, and bad keys are refused with 401 problem bodies without reaching the upstream. Also proves the
 * database holds nothing that authenticates.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../src/log.ts';
import { KeyHasher } from '../src/policies/authn-apikey/hash.ts';
import { ApiKeyVerifier } from '../src/policies/authn-apikey/verifier.ts';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { keyringFromConfig } from '../src/store/encryption/config.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_TOKEN, KEYS_SPEC, READ_TOKEN, TEST_ENV, adminCall, itemsSpec, keysConfig } from './helpers/apikeys.ts';

describe('API keys through the gateway', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let key = '';
  let keyId = '';

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(keysConfig(up.url), { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-a', name: 'Service A', tenant: 'acme', roles: ['reader'] })).status, 201);
    const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-a', scopes: ['items:read'] });
    assert.equal(created.status, 201);
    key = String(created.json['key']);
    keyId = String(created.json['id']);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  const call = (headers: Record<string, string>, path = '/items') => fetch(`${gw.url}${path}`, { headers });

  async function assertDenied(res: Response, seenBefore: number): Promise<void> {
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['type'], 'https://rampart.dev/problems/invalid_token');
    assert.equal(body['title'], 'Invalid credentials');
    assert.equal(up.seen.length, seenBefore, 'the upstream was not reached');
  }

  it('accepts a valid key in X-API-Key and in Authorization: ApiKey, and tells the upstream who called', async () => {
    const res = await call({ 'x-api-key': key });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal((await call({ authorization: `ApiKey ${key}` })).status, 200);
    assert.ok(!JSON.stringify(up.seen.at(-1)!.headers).includes(key.slice(20)), 'the key itself is not forwarded');
  });

  it('rejects a key with a wrong checksum, an unknown key and a missing key', async () => {
    const seen = up.seen.length;
    const typo = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a');
    await assertDenied(await call({ 'x-api-key': typo }), seen);
    await assertDenied(await call({ 'x-api-key': 'rk_live_000000000000_' + 'a'.repeat(38) }), seen);
    const missing = await call({});
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /ApiKey/);
    await missing.arrayBuffer();
    assert.equal(up.seen.length, seen);
  });

  it('never reads a key from the query string', async () => {
    const seen = up.seen.length;
    const res = await fetch(`${gw.url}/items?api_key=${encodeURIComponent(key)}`);
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    assert.equal(up.seen.length, seen);
  });

  it('leaves public operations open and still rejects a bad key presented there', async () => {
    const ok = await call({}, '/public');
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await assertDenied(await call({ 'x-api-key': 'rk_live_junk' }, '/public'), up.seen.length);
  });

  it('admin API: no token 401, read-only cannot create, lists never carry secrets or hashes', async () => {
    assert.equal((await adminCall(gw.adminUrl, 'GET', '/keys', undefined)).status, 401);
    assert.equal((await adminCall(gw.adminUrl, 'GET', '/keys', 'x'.repeat(40))).status, 401);
    const denied = await adminCall(gw.adminUrl, 'POST', '/consumers', READ_TOKEN, { name: 'nope' });
    assert.equal(denied.status, 403);
    assert.equal(denied.json['type'], 'https://rampart.dev/problems/forbidden');
    const list = await adminCall(gw.adminUrl, 'GET', '/keys', READ_TOKEN);
    assert.equal(list.status, 200);
    const text = JSON.stringify(list.json);
    assert.ok(text.includes(keyId));
    assert.ok(!text.includes(key) && !text.includes(key.slice(21, 53)), 'no secret');
    assert.ok(!/key_?hash|[0-9a-f]{64}/i.test(text), 'no hash');
    const one = await adminCall(gw.adminUrl, 'GET', `/keys/${keyId}`, READ_TOKEN);
    assert.equal(one.json['status'], 'active');
    assert.ok(!JSON.stringify(one.json).includes(key));
  });

  it('records every admin action as an admin event', async () => {
    const events = await adminCall(gw.adminUrl, 'GET', '/events', READ_TOKEN);
    const actions = (events.json['items'] as { action: string; actor: string }[]).map((e) => `${e.actor}:${e.action}`);
    assert.ok(actions.includes('ops:consumer.create'));
    assert.ok(actions.includes('ops:key.create'));
    assert.ok(!JSON.stringify(events.json).includes(key));
  });

  it('stores nothing that authenticates: no raw key or secret in any table; the HMAC is useless without the pepper', async () => {
    // Opened as the gateway opens it: with the KEK it generated beside the database (no store.encryption here).
    const dump = new SqliteStore({ path: join(gw.dir, 'data', 'rampart.db'), keyring: keyringFromConfig({ kind: 'sqlite', path: './data/rampart.db' }, gw.configFile) });
    try {
      const text = JSON.stringify(dump.dumpTables());
      const secret = key.slice(21, 53);
      assert.ok(!text.includes(key), 'raw key absent');
      assert.ok(!text.includes(secret), 'secret absent');
      const stored = (await dump.getApiKey(keyId))!.keyHash;
      assert.notEqual(stored, createHash('sha256').update(key).digest('hex'), 'not a plain hash');
      assert.notEqual(stored, createHmac('sha256', '').update(key).digest('hex'));
      const withoutPepper = new ApiKeyVerifier(dump, new KeyHasher('w'.repeat(32)), createLogger({ level: 'silent' }), undefined, { background: false });
      assert.deepEqual(await withoutPepper.verify(key), { ok: false, reason: 'mismatch', keyId });
      // Presenting the stored hash as if it were the secret does not authenticate either.
      const res = await call({ 'x-api-key': stored });
      assert.equal(res.status, 401);
      await res.arrayBuffer();
    } finally {
      await dump.close();
    }
  });

  it('PATCH changes a live key in place: the gateway stops accepting it at its new expiry; consumer and unknown fields are refused', async () => {
    const made = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-a', scopes: ['items:read'] });
    const id = String(made.json['id']);
    const secret = String(made.json['key']);
    assert.equal((await call({ 'x-api-key': secret })).status, 200, 'cached as valid now');
    assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, READ_TOKEN, { plan: 'x' })).status, 403);
    assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { consumer: 'other' })).status, 400, 'a key cannot move');
    assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { key_hash: 'ab'.repeat(32) })).status, 400, 'nor change its secret');
    assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { expires_at: '2001-01-01T00:00:00Z' })).status, 400, 'an expiry in the past');
    for (const loose of ['2030', 'Jan 1 2031 UTC', '2031-02-31T00:00:00Z', '2031-01-01T00:00:00']) {
      assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { expires_at: loose })).status, 400, `${loose}: an RFC 3339 date-time with its offset, on a real day`);
    }
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const patched = await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { scopes: ['items:read', 'items:write'], metadata: { owner: 'ops' }, expires_at: expiresAt });
    assert.equal(patched.status, 200);
    assert.deepEqual([patched.json['scopes'], patched.json['metadata'], patched.json['expires_at']], [['items:read', 'items:write'], { owner: 'ops' }, expiresAt]);
    await new Promise((r) => setTimeout(r, 1600));
    await assertDenied(await call({ 'x-api-key': secret }), up.seen.length);
    assert.equal((await adminCall(gw.adminUrl, 'POST', `/keys/${id}/revoke`, ADMIN_TOKEN)).status, 200);
    assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${id}`, ADMIN_TOKEN, { plan: null })).status, 409, 'a revoked key is not changed');
    const events = await adminCall(gw.adminUrl, 'GET', '/events', READ_TOKEN);
    assert.ok((events.json['items'] as { action: string; target_id: string }[]).some((e) => e.action === 'key.update' && e.target_id === id));
  });

  it('rotation: old key works within grace, stops after; revocation takes effect on the next request', async () => {
    const rotated = await adminCall(gw.adminUrl, 'POST', `/keys/${keyId}/rotate`, ADMIN_TOKEN, { grace_seconds: 0 });
    assert.equal(rotated.status, 201);
    const next = String(rotated.json['key']);
    const seen = up.seen.length;
    await assertDenied(await call({ 'x-api-key': key }), seen);
    const ok = await call({ 'x-api-key': next });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    assert.equal((await adminCall(gw.adminUrl, 'POST', `/keys/${String(rotated.json['id'])}/revoke`, ADMIN_TOKEN)).status, 200);
    await assertDenied(await call({ 'x-api-key': next }), up.seen.length);
    assert.equal((await adminCall(gw.adminUrl, 'POST', `/keys/${keyId}/rotate`, ADMIN_TOKEN, {})).status, 409);
  });
});

describe('the OpenAPI apiKey scheme decides where the key is read', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let key = '';

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(keysConfig(up.url), { files: { 'keys.yaml': itemsSpec('token', 'token: { type: apiKey, in: header, name: X-Token }') }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-t', name: 'Service T' })).status, 201);
    key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-t' })).json['key']);
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  it('a key in the header the scheme names (X-Token) is accepted and not forwarded', async () => {
    const res = await fetch(`${gw.url}/items`, { headers: { 'x-token': key } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(up.seen.at(-1)!.headers['x-token'], undefined, 'the credential is not forwarded');
    const seen = up.seen.length;
    assert.equal((await fetch(`${gw.url}/items`, { headers: { 'x-token': `${key}x` } })).status, 401, 'a wrong key there is refused');
    assert.equal(up.seen.length, seen, 'and never reaches the upstream');
  });

  it('a scheme that puts the key in the query stops start-up, naming the spec and operation', async () => {
    await assert.rejects(
      startGateway(keysConfig(up.url), { files: { 'keys.yaml': itemsSpec('q', 'q: { type: apiKey, in: query, name: api_key }') }, env: TEST_ENV }),
      /apis\[0\]\.spec: operation "listItems" uses apiKey scheme "q" with the key in the query; Rampart reads API keys from headers only/,
    );
  });
});
