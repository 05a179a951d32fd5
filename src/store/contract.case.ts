import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DecryptionError } from './encryption/cipher.ts';
import { Keyring, KeyringError } from './encryption/keyring.ts';
import { ENCRYPTED_COLUMNS, type Row } from './rows.ts';
import { StoreError, type AdminEvent, type NewApiKey, type Store } from './types.ts';

/** A keyring of fresh random KEKs (tests). The first id is active unless `active` says otherwise. */
export function testKeyring(keks: readonly { readonly id: string; readonly key?: Buffer }[] = [{ id: 'k1' }], active?: string): Keyring {
  return new Keyring(keks.map((k) => ({ id: k.id, key: k.key ?? randomBytes(32) })), active ?? keks[0]!.id);
}

/**
 * What the contract needs from a backend's test file. `open` returns a fresh, empty store (isolated: its own file
 * or schema); `reopen` opens the same database again (another instance, or a restart); `sql` runs a statement
 * (`$1…$n` placeholders) straight on the database, as someone with write access to it would; `copy` returns what a
 * copy of the database yields (SQLite: the file bytes with the WAL; PostgreSQL: a dump); `legacy` makes a database
 * at schema version 1 (an older Rampart, everything in clear) to upgrade.
 */
export interface StoreHarness {
  open(keyring?: Keyring): Promise<Store>;
  reopen(store: Store, keyring?: Keyring): Promise<Store>;
  sql(store: Store, sql: string, params?: readonly unknown[]): Promise<Row[]>;
  copy(store: Store): Promise<string>;
  legacy(): Promise<{ sql(sql: string, params?: readonly unknown[]): Promise<void>; open(keyring: Keyring): Promise<Store> }>;
  /** The keyring `open` and `reopen` use when given none. */
  readonly keyring: Keyring;
}

/**
 * The one behaviour contract every Store implementation passes, encryption at rest included.
 */
export function storeContract(name: string, harness: StoreHarness): void {
  const open = () => harness.open();
  const reopen = (store: Store) => harness.reopen(store);
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
  const decryptFails = (e: unknown) => e instanceof DecryptionError && !/Alice|alice@|\+44/.test(e.message);
  const marker = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;

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

    it('stores signature keys: create, get, list (paged, by consumer), revoke once; keyids are never reused; a consumer delete revokes them', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'partner-a', name: 'A' });
        await store.createConsumer({ id: 'partner-b', name: 'B' });
        const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----';
        const secret = randomBytes(32).toString('base64url');
        await assert.rejects(store.createSignatureKey({ keyid: 'k-x', consumerId: 'missing', algorithm: 'ed25519', publicKey: pem, secret: null }), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
        const ed = await store.createSignatureKey({ keyid: 'a-ed/2025', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: pem, secret: null }, 1000);
        assert.deepEqual(ed, { keyid: 'a-ed/2025', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: pem, secret: null, createdAt: 1000, revokedAt: null });
        const hmac = await store.createSignatureKey({ keyid: 'a-hmac', consumerId: 'partner-a', algorithm: 'hmac-sha256', publicKey: null, secret }, 1100);
        assert.equal(hmac.secret, secret);
        await store.createSignatureKey({ keyid: 'b-ecc', consumerId: 'partner-b', algorithm: 'ecdsa-p256-sha256', publicKey: '{"kty":"EC"}', secret: null }, 1200);
        assert.deepEqual(await store.getSignatureKey('a-hmac'), hmac);
        assert.equal(await store.getSignatureKey('nope'), undefined);
        await assert.rejects(store.createSignatureKey({ keyid: 'a-ed/2025', consumerId: 'partner-b', algorithm: 'ed25519', publicKey: pem, secret: null }), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
        const invalid: [string, Parameters<Store['createSignatureKey']>[0]][] = [
          ['keyid', { keyid: 'bad keyid', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: pem, secret: null }],
          ['algorithm', { keyid: 'k1', consumerId: 'partner-a', algorithm: 'hs256' as never, publicKey: pem, secret: null }],
          ['secret', { keyid: 'k2', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: pem, secret }],
          ['public_key', { keyid: 'k3', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: null, secret: null }],
          ['public_key', { keyid: 'k4', consumerId: 'partner-a', algorithm: 'hmac-sha256', publicKey: pem, secret }],
          ['secret', { keyid: 'k5', consumerId: 'partner-a', algorithm: 'hmac-sha256', publicKey: null, secret: 'c2hvcnQ' }],
        ];
        for (const [field, input] of invalid) {
          await assert.rejects(store.createSignatureKey(input), (e: unknown) => e instanceof StoreError && e.code === 'invalid' && e.field === field && !e.message.includes(secret), field);
        }
        assert.deepEqual((await store.listSignatureKeys()).map((k) => k.keyid), ['a-ed/2025', 'a-hmac', 'b-ecc']);
        const page1 = await store.listSignatureKeys({ limit: 2 });
        const page2 = await store.listSignatureKeys({ limit: 2, after: page1.at(-1)!.keyid });
        assert.deepEqual([...page1, ...page2].map((k) => k.keyid), ['a-ed/2025', 'a-hmac', 'b-ecc']);
        assert.deepEqual((await store.listSignatureKeys({ consumerId: 'partner-b' })).map((k) => k.keyid), ['b-ecc']);
        assert.equal((await store.revokeSignatureKey('a-ed/2025', 5000))?.revokedAt, 5000);
        assert.equal((await store.revokeSignatureKey('a-ed/2025', 6000))?.revokedAt, 5000, 'a second revoke keeps the first time');
        assert.equal(await store.revokeSignatureKey('nope'), undefined);
        await assert.rejects(store.createSignatureKey({ keyid: 'a-ed/2025', consumerId: 'partner-a', algorithm: 'ed25519', publicKey: pem, secret: null }), (e: unknown) => e instanceof StoreError && e.code === 'conflict', 'a revoked keyid is not reused');
        assert.equal(await store.deleteConsumer('partner-a', 7000), true);
        assert.equal((await store.getSignatureKey('a-hmac'))?.revokedAt, 7000, 'deleting the consumer revoked its keys');
        assert.equal((await store.getSignatureKey('a-ed/2025'))?.revokedAt, 5000);
        assert.equal((await store.getSignatureKey('b-ecc'))?.revokedAt, null, 'another consumer\'s keys are untouched');
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
  });

  describe(`Store contract: ${name}: encryption at rest`, () => {
    it('a copy of the database holds no name, metadata or event detail in clear, and every encrypted column is an envelope', async () => {
      const store = await open();
      try {
        const secrets = { name: marker('Alice Example'), email: marker('alice@example.org'), phone: marker('+44 20 7946'), keyNote: marker('key-note'), keyName: marker('laptop of alice'), detail: marker('detail'), hmacSecret: randomBytes(32).toString('base64url') };
        await store.createConsumer({ id: 'svc-a', name: secrets.name, metadata: { email: secrets.email, nested: { phone: secrets.phone } } });
        await store.updateConsumer('svc-a', { metadata: { email: secrets.email, nested: { phone: secrets.phone }, v: 2 } });
        await store.insertApiKey(key('k1', 'svc-a', { metadata: { note: secrets.keyNote } }));
        await store.updateApiKey('k1', { metadata: { note: secrets.keyNote, name: secrets.keyName } });
        await store.rotateApiKey('k1', key('k2', 'svc-a', { metadata: { name: secrets.keyName } }), 99_000);
        await store.recordAdminEvent({ actor: 'ops', action: 'consumer.create', targetType: 'consumer', targetId: 'svc-a', details: { name: secrets.name, note: secrets.detail } });
        await store.createSignatureKey({ keyid: 'svc-a-hmac', consumerId: 'svc-a', algorithm: 'hmac-sha256', publicKey: null, secret: secrets.hmacSecret });
        await store.createSignatureKey({ keyid: 'svc-a-ed', consumerId: 'svc-a', algorithm: 'ed25519', publicKey: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----', secret: null });
        await store.revokeSignatureKey('svc-a-hmac');
        assert.equal((await store.getSignatureKey('svc-a-hmac'))?.secret, secrets.hmacSecret, 'the HMAC secret reads back through the store');
        assert.equal((await store.getConsumer('svc-a'))?.name, secrets.name, 'readable through the store');
        assert.deepEqual((await store.getApiKey('k2'))?.metadata, { name: secrets.keyName });
        assert.deepEqual((await store.listAdminEvents())[0]?.details, { name: secrets.name, note: secrets.detail });
        const copy = await harness.copy(store);
        assert.ok(copy.includes('svc-a'), 'the copy is a real copy (ids are in clear)');
        for (const [label, value] of Object.entries(secrets)) assert.ok(!copy.includes(value), `${label} is not in the copy`);
        // The HMAC secret in its other encodings (hex, standard base64) is not there either.
        const raw = Buffer.from(secrets.hmacSecret, 'base64url');
        for (const encoded of [raw.toString('hex'), raw.toString('base64')]) assert.ok(!copy.includes(encoded), 'no encoding of the HMAC secret is in the copy');
        for (const [table, columns] of Object.entries(ENCRYPTED_COLUMNS)) {
          const rows = await harness.sql(store, `SELECT ${columns.join(', ')} FROM ${table}`);
          assert.ok(rows.length > 0, `${table} has rows to check`);
          for (const row of rows) {
            for (const column of columns) assert.match(String(row[column]), /^rk1\.dk_[0-9a-f]{16}\.[A-Za-z0-9_-]{40,}$/, `${table}.${column}`);
          }
        }
        const keys = await harness.sql(store, 'SELECT purpose, kek_id FROM data_keys ORDER BY purpose');
        assert.deepEqual(keys, [{ purpose: 'admin_events', kek_id: 'k1' }, { purpose: 'api_keys', kek_id: 'k1' }, { purpose: 'consumers', kek_id: 'k1' }, { purpose: 'signature_keys', kek_id: 'k1' }], 'one data key per table');
      } finally {
        await store.close();
      }
    });

    it('a value copied to another row, another column or another table does not decrypt (DecryptionError, no plaintext in it)', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'alice', name: 'Alice', metadata: { email: 'alice@example.org' } });
        await store.createConsumer({ id: 'bob', name: 'Bob', metadata: {} });
        await store.insertApiKey(key('ka', 'alice', { metadata: { owner: 'alice@example.org' } }));
        await store.insertApiKey(key('kb', 'bob', { metadata: {} }));
        const a = await store.recordAdminEvent({ actor: 'ops', action: 'x', targetType: 'consumer', targetId: 'alice', details: { email: 'alice@example.org' } });
        const b = await store.recordAdminEvent({ actor: 'ops', action: 'x', targetType: 'consumer', targetId: 'bob', details: {} });
        // Row swap: Alice's name into Bob's row.
        await harness.sql(store, "UPDATE consumers SET name = (SELECT name FROM consumers WHERE id = 'alice') WHERE id = 'bob'");
        await assert.rejects(store.getConsumer('bob'), decryptFails);
        await assert.rejects(store.listConsumers(), decryptFails, 'a list fails closed too');
        assert.equal((await store.getConsumer('alice'))?.name, 'Alice', 'the source row still reads');
        // Column swap: Alice's name into her own metadata column.
        await harness.sql(store, "UPDATE consumers SET metadata = name WHERE id = 'alice'");
        await assert.rejects(store.getConsumer('alice'), decryptFails);
        // Row swap of key metadata, and a consumer value moved into the api_keys table (another table's data key).
        await harness.sql(store, "UPDATE api_keys SET metadata = (SELECT metadata FROM api_keys WHERE id = 'ka') WHERE id = 'kb'");
        await assert.rejects(store.getApiKey('kb'), decryptFails);
        await harness.sql(store, "UPDATE api_keys SET metadata = (SELECT name FROM consumers WHERE id = 'bob') WHERE id = 'ka'");
        await assert.rejects(store.getApiKey('ka'), (e: unknown) => decryptFails(e) && /belongs to consumers/.test((e as Error).message));
        // An HMAC secret moved to another signature key's row (to sign as that partner with a known secret).
        await store.createSignatureKey({ keyid: 'sa', consumerId: 'alice', algorithm: 'hmac-sha256', publicKey: null, secret: randomBytes(32).toString('base64url') });
        await store.createSignatureKey({ keyid: 'sb', consumerId: 'bob', algorithm: 'hmac-sha256', publicKey: null, secret: randomBytes(32).toString('base64url') });
        await harness.sql(store, "UPDATE signature_keys SET secret = (SELECT secret FROM signature_keys WHERE keyid = 'sa') WHERE keyid = 'sb'");
        await assert.rejects(store.getSignatureKey('sb'), decryptFails);
        assert.ok((await store.getSignatureKey('sa'))?.secret, 'the source row still reads');
        // Admin event details swapped between events.
        await harness.sql(store, 'UPDATE admin_events SET details = (SELECT details FROM admin_events WHERE id = $1) WHERE id = $2', [a.id, b.id]);
        await assert.rejects(store.listAdminEvents(), decryptFails);
      } finally {
        await store.close();
      }
    });

    it('tampered, truncated, relabelled or plaintext values fail closed', async () => {
      const store = await open();
      try {
        await store.createConsumer({ id: 'alice', name: 'Alice', metadata: { email: 'alice@example.org' } });
        const [row] = await harness.sql(store, "SELECT name, metadata FROM consumers WHERE id = 'alice'");
        const sealed = String(row!['name']);
        const [, dekId, body] = sealed.split('.') as [string, string, string];
        const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
        const variants: Record<string, string> = {
          'ciphertext bit flipped': `rk1.${dekId}.${flip(body, body.length - 3)}`,
          'iv bit flipped': `rk1.${dekId}.${flip(body, 2)}`,
          'tag truncated': `rk1.${dekId}.${body.slice(0, 20)}`,
          'last bytes cut': `rk1.${dekId}.${body.slice(0, -4)}`,
          'empty body': `rk1.${dekId}.`,
          'unknown key id': `rk1.dk_0000000000000000.${body}`,
          'another version': `rk2.${dekId}.${body}`,
          'not base64url': `rk1.${dekId}.${body.slice(0, -2)}+/`,
          'plaintext written around Rampart': 'Mallory',
        };
        for (const [label, value] of Object.entries(variants)) {
          await harness.sql(store, "UPDATE consumers SET name = $1 WHERE id = 'alice'", [value]);
          await assert.rejects(store.getConsumer('alice'), decryptFails, label);
        }
        await harness.sql(store, "UPDATE consumers SET name = $1, metadata = $2 WHERE id = 'alice'", [sealed, '{"email":"mallory@example.org"}']);
        await assert.rejects(store.getConsumer('alice'), decryptFails, 'plaintext metadata is refused, not read');
        await harness.sql(store, "UPDATE consumers SET metadata = $1 WHERE id = 'alice'", [row!['metadata']]);
        assert.deepEqual((await store.getConsumer('alice'))?.metadata, { email: 'alice@example.org' }, 'the original envelope still reads');
      } finally {
        await store.close();
      }
    });

    it('start-up fails, naming store.encryption.keks, when a KEK in use is removed, replaced, or a wrapped data key is altered or missing', async () => {
      const k1 = { id: 'k1', key: randomBytes(32) };
      const store = await harness.open(testKeyring([k1]));
      await store.createConsumer({ id: 'alice', name: 'Alice' });
      try {
        await assert.rejects(harness.reopen(store, testKeyring([{ id: 'k2' }])), (e: unknown) => e instanceof KeyringError && /^store\.encryption\.keks: .*KEK "k1", which is not configured/.test((e as Error).message));
        await assert.rejects(harness.reopen(store, testKeyring([{ id: 'k1' }])), (e: unknown) => e instanceof KeyringError && /does not unwrap under KEK "k1"/.test((e as Error).message), 'another key under the same id');
        const [consumersKey] = await harness.sql(store, "SELECT id, wrapped FROM data_keys WHERE purpose = 'consumers'");
        const [eventsKey] = await harness.sql(store, "SELECT id, wrapped FROM data_keys WHERE purpose = 'admin_events'");
        // A wrapped data key moved to another table's row does not unwrap there.
        await harness.sql(store, 'UPDATE data_keys SET wrapped = $1 WHERE id = $2', [consumersKey!['wrapped'], eventsKey!['id']]);
        await assert.rejects(harness.reopen(store, testKeyring([k1])), (e: unknown) => e instanceof KeyringError && /does not unwrap/.test((e as Error).message));
        await harness.sql(store, 'UPDATE data_keys SET wrapped = $1 WHERE id = $2', [eventsKey!['wrapped'], eventsKey!['id']]);
        // The data-key table emptied (or restored from an older backup): the store refuses, never seals again.
        await harness.sql(store, 'DELETE FROM data_keys');
        await assert.rejects(harness.reopen(store, testKeyring([k1])), (e: unknown) => e instanceof KeyringError && /data key of consumers is missing/.test((e as Error).message));
      } finally {
        await store.close();
      }
    });

    it('rotate-kek re-wraps online: open stores keep reading and writing, two runs at once agree, the old KEK is then unneeded', async () => {
      const a = { id: 'kek-a', key: randomBytes(32) };
      const b = { id: 'kek-b', key: randomBytes(32) };
      const running = await harness.open(testKeyring([a]));
      const stores: Store[] = [running];
      try {
        await running.createConsumer({ id: 'alice', name: 'Alice', metadata: { email: 'alice@example.org' } });
        await running.insertApiKey(key('k1', 'alice', { metadata: { note: 'n' } }));
        await running.recordAdminEvent({ actor: 'ops', action: 'x', targetType: 'consumer', targetId: 'alice', details: { d: 1 } });
        // The operator adds kek-b as active (kek-a still listed) and runs rotate-kek twice at once.
        const both = testKeyring([a, b], 'kek-b');
        const first = await harness.reopen(running, both);
        const second = await harness.reopen(running, both);
        stores.push(first, second);
        const reports = await Promise.all([first.rotateKek(), second.rotateKek()]);
        assert.deepEqual(reports.flatMap((r) => r.rewrapped).length, 4, 'each data key re-wrapped by exactly one run');
        for (const report of reports) assert.deepEqual(report.byKek, { 'kek-b': 4 });
        assert.deepEqual((await first.rotateKek()).rewrapped, [], 'a third run has nothing to do');
        // The instance started before the rotation, knowing only kek-a, keeps reading and writing.
        await running.createConsumer({ id: 'bob', name: 'Bob' });
        assert.equal((await running.getConsumer('alice'))?.name, 'Alice');
        // After the rotation kek-a can be retired: a start with kek-b alone reads everything, old rows and new.
        const after = await harness.reopen(running, testKeyring([b]));
        stores.push(after);
        assert.deepEqual((await after.getConsumer('alice'))?.metadata, { email: 'alice@example.org' });
        assert.equal((await after.getConsumer('bob'))?.name, 'Bob');
        assert.deepEqual((await after.getApiKey('k1'))?.metadata, { note: 'n' });
        assert.deepEqual((await after.listAdminEvents())[0]?.details, { d: 1 });
        await assert.rejects(harness.reopen(running, testKeyring([a])), KeyringError, 'kek-a alone no longer opens it');
      } finally {
        for (const s of stores) await s.close();
      }
    });

    it('rotate-kek with a data key under a KEK that is not configured fails, naming it, and changes nothing', async () => {
      const a = { id: 'kek-a', key: randomBytes(32) };
      const store = await harness.open(testKeyring([a]));
      try {
        await harness.sql(store, "UPDATE data_keys SET kek_id = 'gone' WHERE purpose = 'api_keys'");
        await assert.rejects(store.rotateKek(), (e: unknown) => e instanceof KeyringError && /KEK "gone", which is not configured/.test((e as Error).message));
        assert.deepEqual((await harness.sql(store, "SELECT kek_id FROM data_keys WHERE purpose = 'api_keys'"))[0], { kek_id: 'gone' });
      } finally {
        await store.close();
      }
    });

    it('upgrade: rows an older version wrote in clear are encrypted when the store opens, and no plaintext is left in a copy', async () => {
      const legacy = await harness.legacy();
      const secrets = { name: marker('Carol Legacy'), email: marker('carol@legacy.example'), keyNote: marker('legacy-key-note'), detail: marker('legacy-detail') };
      await legacy.sql('INSERT INTO consumers (id, name, tenant, roles, groups, plan, metadata, created_at, updated_at) VALUES ($1, $2, NULL, $3, $3, NULL, $4, 1000, 1000)', ['carol', secrets.name, '[]', JSON.stringify({ email: secrets.email })]);
      await legacy.sql("INSERT INTO api_keys (id, prefix, consumer_id, key_hash, scopes, metadata, created_at, updated_at) VALUES ('kc', 'rk_live', 'carol', $1, $2, $3, 1000, 1000)", ['ab'.repeat(32), '["orders:read"]', JSON.stringify({ note: secrets.keyNote })]);
      await legacy.sql("INSERT INTO admin_events (id, at, actor, action, target_type, target_id, details) VALUES ('e1', 1000, 'ops', 'consumer.create', 'consumer', 'carol', $1)", [JSON.stringify({ note: secrets.detail })]);
      const store = await legacy.open(harness.keyring);
      try {
        assert.equal((await store.getConsumer('carol'))?.name, secrets.name);
        assert.deepEqual((await store.getConsumer('carol'))?.metadata, { email: secrets.email });
        assert.deepEqual((await store.getApiKey('kc'))?.metadata, { note: secrets.keyNote });
        assert.deepEqual((await store.listAdminEvents())[0]?.details, { note: secrets.detail });
        const copy = await harness.copy(store);
        assert.ok(copy.includes('carol'), 'the copy is a real copy');
        for (const [label, value] of Object.entries(secrets)) assert.ok(!copy.includes(value), `${label} left in clear after the upgrade`);
        const again = await harness.reopen(store);
        try {
          assert.equal((await again.getConsumer('carol'))?.name, secrets.name, 'a second open does not encrypt twice');
        } finally {
          await again.close();
        }
      } finally {
        await store.close();
      }
    });
  });
}
