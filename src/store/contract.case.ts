import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError, type AdminEvent, type NewApiKey, type Store } from './types.ts';

/**
 * The one behaviour contract every Store implementation passes. `open` returns a fresh, empty store (isolated:
 * its own file or schema); `reopen` (optional) opens the same database again to prove migrations are idempotent.
 */
export function storeContract(name: string, open: () => Promise<Store>, reopen?: (store: Store) => Promise<Store>): void {
  const key = (id: string, consumerId: string, extra: Partial<NewApiKey> = {}): NewApiKey => ({
    id,
    prefix: 'rk_live',
    consumerId,
    keyHash: 'ab'.repeat(32),
    scopes: ['orders:read'],
    expiresAt: null,
    plan: null,
    metadata: {},
    createdAt: 1000,
    ...extra,
  });

  describe(`Store contract: ${name}`, () => {
    it('creates, reads, lists (paged, by tenant), updates and deletes consumers', async () => {
      const store = await open();
      try {
        const a = await store.createConsumer({ id: 'svc-a', name: 'Service A', tenant: 'acme', roles: ['reader'], groups: ['g1'], plan: 'gold', metadata: { team: 'x' } }, 1000);
        assert.deepEqual(a, { id: 'svc-a', name: 'Service A', tenant: 'acme', roles: ['reader'], groups: ['g1'], plan: 'gold', metadata: { team: 'x' }, createdAt: 1000, updatedAt: 1000 });
        const b = await store.createConsumer({ name: 'Generated' }, 1000);
        assert.match(b.id, /^c_[0-9a-f]{16}$/);
        assert.equal(b.tenant, null);
        assert.deepEqual(b.roles, []);
        await store.createConsumer({ id: 'svc-c', name: 'C', tenant: 'globex' }, 1000);
        assert.deepEqual((await store.getConsumer('svc-a'))?.name, 'Service A');
        assert.equal(await store.getConsumer('nope'), undefined);
        assert.deepEqual((await store.listConsumers({ tenant: 'acme' })).map((c) => c.id), ['svc-a']);
        const page1 = await store.listConsumers({ limit: 2 });
        const page2 = await store.listConsumers({ limit: 2, after: page1.at(-1)!.id });
        assert.equal(page1.length + page2.length, 3);
        assert.deepEqual([...page1, ...page2].map((c) => c.id), [b.id, 'svc-a', 'svc-c'].sort());
        const updated = await store.updateConsumer('svc-a', { roles: ['reader', 'writer'], plan: null }, 2000);
        assert.deepEqual(updated?.roles, ['reader', 'writer']);
        assert.equal(updated?.plan, null);
        assert.equal(updated?.name, 'Service A');
        assert.equal(updated?.updatedAt, 2000);
        assert.equal(await store.updateConsumer('nope', { name: 'x' }), undefined);
        assert.equal(await store.deleteConsumer('svc-c'), true);
        assert.equal(await store.deleteConsumer('svc-c'), false);
        assert.equal(await store.getConsumer('svc-c'), undefined);
      } finally {
        await store.close();
      }
    });

    it('rejects duplicate and invalid consumers with StoreError', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'dup', name: 'D' });
        await assert.rejects(store.createConsumer({ id: 'dup', name: 'D' }), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
        await assert.rejects(store.createConsumer({ id: 'bad id!', name: 'D' }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
        await assert.rejects(store.createConsumer({ name: '' }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
        await assert.rejects(store.createConsumer({ name: 'x', roles: ['ok', 'not ok'] }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
      } finally {
        await store.close();
      }
    });

    it('stores keys, lists them by consumer, revokes once, and tracks last use in batches', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'svc-a', name: 'A' });
        await assert.rejects(store.insertApiKey(key('k0', 'missing')), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
        const k1 = await store.insertApiKey(key('k1', 'svc-a', { expiresAt: 9_000, plan: 'gold', metadata: { env: 'ci' } }), 1500);
        assert.deepEqual(k1, {
          id: 'k1', prefix: 'rk_live', consumerId: 'svc-a', keyHash: 'ab'.repeat(32), scopes: ['orders:read'], expiresAt: 9000, plan: 'gold',
          metadata: { env: 'ci' }, createdAt: 1000, updatedAt: 1500, lastUsedAt: null, revokedAt: null, replacedBy: null, graceUntil: null,
        });
        await assert.rejects(store.insertApiKey(key('k1', 'svc-a')), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
        await store.insertApiKey(key('k2', 'svc-a'));
        assert.deepEqual((await store.listApiKeys({ consumerId: 'svc-a' })).map((k) => k.id), ['k1', 'k2']);
        assert.deepEqual(await store.listApiKeys({ consumerId: 'other' }), []);
        assert.equal((await store.revokeApiKey('k1', 5000))?.revokedAt, 5000);
        assert.equal((await store.revokeApiKey('k1', 6000))?.revokedAt, 5000);
        assert.equal(await store.revokeApiKey('nope'), undefined);
        await store.touchApiKeys(new Map([['k2', 7000]]));
        await store.touchApiKeys(new Map([['k2', 6500], ['nope', 1]]));
        assert.equal((await store.getApiKey('k2'))?.lastUsedAt, 7000);
      } finally {
        await store.close();
      }
    });

    it('updates a live key\'s scopes, plan, metadata and expiry (never its hash or consumer); a revoked key is not changed', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'svc-a', name: 'A' });
        await store.insertApiKey(key('k1', 'svc-a', { plan: 'gold', metadata: { env: 'ci' } }), 1500);
        const updated = await store.updateApiKey('k1', { scopes: ['orders:write'], metadata: { env: 'prod' }, expiresAt: 99_000 }, 3000);
        assert.deepEqual(
          { scopes: updated?.scopes, plan: updated?.plan, metadata: updated?.metadata, expiresAt: updated?.expiresAt, updatedAt: updated?.updatedAt, keyHash: updated?.keyHash, consumerId: updated?.consumerId },
          { scopes: ['orders:write'], plan: 'gold', metadata: { env: 'prod' }, expiresAt: 99_000, updatedAt: 3000, keyHash: 'ab'.repeat(32), consumerId: 'svc-a' },
        );
        assert.equal((await store.updateApiKey('k1', { plan: null }, 4000))?.plan, null);
        assert.ok((await store.changesSince(3500)).keyIds.includes('k1'), 'an update is a change key caches re-check');
        assert.equal(await store.updateApiKey('nope', { plan: 'x' }), undefined);
        await assert.rejects(store.updateApiKey('k1', { scopes: ['not ok'] }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
        await store.revokeApiKey('k1', 5000);
        await assert.rejects(store.updateApiKey('k1', { scopes: [] }), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
      } finally {
        await store.close();
      }
    });

    it('rotates a key atomically: successor inserted, old one marked with its grace deadline', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'svc-a', name: 'A' });
        await store.insertApiKey(key('old', 'svc-a'));
        const { old, successor } = await store.rotateApiKey('old', key('new', 'svc-a'), 99_000, 2000);
        assert.equal(old.replacedBy, 'new');
        assert.equal(old.graceUntil, 99_000);
        assert.equal(successor.id, 'new');
        await assert.rejects(store.rotateApiKey('old', key('newer', 'svc-a'), 1), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
        assert.equal(await store.getApiKey('newer'), undefined);
        await assert.rejects(store.rotateApiKey('missing', key('x', 'svc-a'), 1), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
      } finally {
        await store.close();
      }
    });

    it('reports changed keys and consumers since a time, including keys revoked by a consumer delete', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'svc-a', name: 'A' }, 1000);
        await store.createConsumer({ id: 'svc-b', name: 'B' }, 1000);
        await store.insertApiKey(key('k1', 'svc-a'), 1000);
        await store.insertApiKey(key('k2', 'svc-b'), 1000);
        assert.deepEqual(await store.changesSince(2000), { keyIds: [], consumerIds: [] });
        await store.revokeApiKey('k1', 3000);
        await store.updateConsumer('svc-a', { plan: 'x' }, 3000);
        await store.deleteConsumer('svc-b', 3000);
        const changes = await store.changesSince(2500);
        assert.deepEqual([...changes.keyIds].sort(), ['k1', 'k2']);
        assert.deepEqual(changes.consumerIds, ['svc-a']);
        assert.equal((await store.getApiKey('k2'))?.revokedAt, 3000);
      } finally {
        await store.close();
      }
    });

    it('records admin events newest first and hands each to audit sinks', async () => {
      const store = await open();
      try {
        const seen: AdminEvent[] = [];
        store.addAuditSink((e) => void seen.push(e));
        store.addAuditSink(() => {
          throw new Error('a broken sink does not break the action');
        });
        const first = await store.recordAdminEvent({ actor: 'ops', action: 'consumer.create', targetType: 'consumer', targetId: 'svc-a', details: { name: 'A' } });
        await store.recordAdminEvent({ actor: 'ops', action: 'key.revoke', targetType: 'api_key', targetId: 'k1', details: {}, at: 5 });
        const events = await store.listAdminEvents();
        assert.deepEqual(events.map((e) => e.action), ['key.revoke', 'consumer.create']);
        assert.equal(events[1]!.id, first.id);
        assert.deepEqual(events[1]!.details, { name: 'A' });
        assert.equal(events[0]!.at, 5);
        assert.deepEqual(seen.map((e) => e.action), ['consumer.create', 'key.revoke']);
        assert.deepEqual((await store.listAdminEvents({ beforeSeq: events[0]!.seq })).map((e) => e.id), [first.id]);
      } finally {
        await store.close();
      }
    });

    if (reopen) {
      it('reopening applies no migration twice and keeps the data', async () => {
        const store = await open();
        await store.createConsumer({ id: 'keep', name: 'K' });
        const again = await reopen(store);
        try {
          assert.equal((await again.getConsumer('keep'))?.name, 'K');
        } finally {
          await again.close();
          await store.close();
        }
      });
    }
  });
}
