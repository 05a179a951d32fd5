import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../log.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import { testKeyring } from '../../store/contract.case.ts';
import { AdminActions } from '../../admin/api/actions.ts';
import { LocalBus } from '../../bus/invalidation.ts';
import { generateApiKey, parseApiKey } from './format.ts';
import { KeyHasher } from './hash.ts';
import { ApiKeyVerifier } from './verifier.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-apikey-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });
const PEPPER = 'p'.repeat(40);
let n = 0;

function setup() {
  let clock = 1_000_000;
  const store = new SqliteStore({ path: join(dir, `k${n++}.db`), keyring: testKeyring() });
  const hasher = new KeyHasher(PEPPER);
  const bus = new LocalBus();
  const verifier = new ApiKeyVerifier(store, hasher, logger, bus, { now: () => clock, background: false });
  const actions = new AdminActions(store, hasher, bus, { now: () => clock, defaultGraceMs: 60_000 });
  return {
    store,
    verifier,
    actions,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
    async close() {
      await verifier.close();
      await store.close();
    },
  };
}

describe('API key format', () => {
  it('generates keys that parse, with a readable prefix and public id', () => {
    const { id, key } = generateApiKey();
    assert.match(key, /^rk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    assert.deepEqual(parseApiKey(key), { prefix: 'rk_live', id });
  });

  it('rejects every single-character typo by checksum', () => {
    const { key } = generateApiKey();
    let rejected = 0;
    for (let i = 8; i < key.length; i++) {
      if (key[i] === '_') continue;
      const typo = key.slice(0, i) + (key[i] === 'a' ? 'b' : 'a') + key.slice(i + 1);
      if (parseApiKey(typo) === undefined) rejected++;
      else assert.fail(`typo at ${i} accepted`);
    }
    assert.ok(rejected > 40);
  });

  it('rejects other shapes', () => {
    for (const bad of ['', 'rk_live_', 'Bearer x', 'rk_test_abcdefghijkl_' + 'a'.repeat(38), 'x'.repeat(10_000)]) assert.equal(parseApiKey(bad), undefined);
  });

  it('refuses a short pepper', () => {
    assert.throws(() => new KeyHasher('short'), /at least 32 bytes/);
  });
});

describe('API key verification', () => {
  it('accepts a valid key, with consumer identity data, and batches last-used writes', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A', tenant: 'acme', roles: ['reader'] });
      const { key, record } = await t.actions.createKey('test', { consumerId: 'svc-a', scopes: ['orders:read'] });
      const result = await t.verifier.verify(key);
      assert.equal(result.ok, true);
      assert.ok(result.ok);
      assert.equal(result.consumer.tenant, 'acme');
      assert.deepEqual(result.key.scopes, ['orders:read']);
      assert.equal((await t.store.getApiKey(record.id))?.lastUsedAt, null, 'not written per request');
      await t.verifier.verify(key);
      assert.equal(t.verifier.lookups, 1, 'second verification served from the cache');
      await t.verifier.flush();
      assert.equal((await t.store.getApiKey(record.id))?.lastUsedAt, t.now());
    } finally {
      await t.close();
    }
  });

  it('rejects a wrong checksum without any store lookup', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { key } = await t.actions.createKey('test', { consumerId: 'svc-a' });
      const typo = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a');
      assert.deepEqual(await t.verifier.verify(typo), { ok: false, reason: 'malformed' });
      assert.equal(t.verifier.lookups, 0);
    } finally {
      await t.close();
    }
  });

  it('rejects an unknown key and a forged secret for a real id', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { record } = await t.actions.createKey('test', { consumerId: 'svc-a' });
      assert.equal((await t.verifier.verify(generateApiKey().key)).ok, false);
      const forged = generateApiKey(record.id).key;
      assert.deepEqual(await t.verifier.verify(forged), { ok: false, reason: 'mismatch', keyId: record.id });
    } finally {
      await t.close();
    }
  });

  it('rejects a revoked key at once (cached before)', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { key, record } = await t.actions.createKey('test', { consumerId: 'svc-a' });
      assert.equal((await t.verifier.verify(key)).ok, true);
      await t.actions.revokeKey('test', record.id);
      assert.deepEqual(await t.verifier.verify(key), { ok: false, reason: 'revoked', keyId: record.id });
    } finally {
      await t.close();
    }
  });

  it('rejects an expired key', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { key } = await t.actions.createKey('test', { consumerId: 'svc-a', expiresAt: t.now() + 1000 });
      assert.equal((await t.verifier.verify(key)).ok, true);
      t.advance(1000);
      assert.deepEqual(await t.verifier.verify(key), { ok: false, reason: 'expired', keyId: parseApiKey(key)!.id });
    } finally {
      await t.close();
    }
  });

  it('keeps a rotated key valid within the grace period and rejects it after; the successor works', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { key: oldKey, record } = await t.actions.createKey('test', { consumerId: 'svc-a', scopes: ['a'] });
      const rotated = await t.actions.rotateKey('test', record.id, { graceMs: 5000 });
      assert.deepEqual(rotated.record.scopes, ['a']);
      assert.equal((await t.verifier.verify(oldKey)).ok, true, 'within grace');
      assert.equal((await t.verifier.verify(rotated.key)).ok, true);
      t.advance(5000);
      assert.deepEqual(await t.verifier.verify(oldKey), { ok: false, reason: 'rotated', keyId: record.id });
      assert.equal((await t.verifier.verify(rotated.key)).ok, true);
    } finally {
      await t.close();
    }
  });

  it('drops keys of a deleted consumer, and sees changes made by another process through the re-check', async () => {
    const t = setup();
    try {
      await t.actions.createConsumer('test', { id: 'svc-a', name: 'A' });
      const { key, record } = await t.actions.createKey('test', { consumerId: 'svc-a' });
      assert.equal((await t.verifier.verify(key)).ok, true);
      await t.store.revokeApiKey(record.id, t.now()); // behind the verifier's back (e.g. the CLI)
      assert.equal((await t.verifier.verify(key)).ok, true, 'still cached');
      await t.verifier.recheck();
      assert.equal((await t.verifier.verify(key)).ok, false);
    } finally {
      await t.close();
    }
  });
});
