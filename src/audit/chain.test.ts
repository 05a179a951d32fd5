/**
 * The audit store contract, run against SQLite and PostgreSQL: append + verify, and every tamper (edit, delete,
 * insert, reorder, truncate, forged checkpoint) detected at the right record.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { openDb, type Db } from './db.ts';
import { AuditStore } from './store.ts';
import { AuditLog } from './log.ts';
import { verifyChain } from './verify.ts';
import { GENESIS_HASH, canonicalJson, recordHash } from './chain.ts';
import { signCheckpoint, signingKeyFromPem } from './signing.ts';
import { AuditPrivacy } from './privacy.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

interface Backend {
  readonly name: string;
  open(): Promise<Db>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-audit-'));
  let n = 0;
  return { name: 'sqlite', open: () => openDb({ kind: 'sqlite', path: join(dir, `audit-${n++}.db`) }), cleanup: async () => undefined };
}

function pgBackend(): Backend {
  const schemas: string[] = [];
  return {
    name: 'postgres',
    open: () => {
      const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return openDb({ kind: 'postgres', url: PG_URL, schema });
    },
    async cleanup() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await client.end();
    },
  };
}

test('canonical JSON sorts keys at every depth and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true }, u: undefined }), '{"a":{"c":true,"d":[1,"x",null]},"b":1}');
  assert.throws(() => canonicalJson({ n: Number.NaN }));
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [, 'x', , undefined];
  assert.equal(canonicalJson({ s: sparse }), '{"s":[null,"x",null,null]}');
  assert.deepEqual(JSON.parse(canonicalJson({ s: sparse })), JSON.parse(JSON.stringify({ s: sparse })), 'the same JSON as JSON.stringify');
});

/**
 * The implementation every stored chain was hashed with until 2026-12-08 (arrays of parts, then joined): the
 * faster one must give the same bytes, or existing trails would stop verifying.
 */
function formerCanonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${Array.from(value, (v) => (v === undefined ? 'null' : formerCanonicalJson(v))).join(',')}]`;
      const keys = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${formerCanonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
    }
    default:
      throw new Error(typeof value);
  }
}

test('canonical JSON gives the former implementation’s bytes for any JSON value, and the record hash is of its wrapper', () => {
  const withUndefined = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 5 })),
  })).value;
  fc.assert(
    fc.property(withUndefined, (value) => {
      if (value === undefined) return;
      assert.equal(canonicalJson(value), formerCanonicalJson(value));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }), fc.nat(), fc.string(), fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), (fields, seq, time, type, prev) => {
      const record = { seq, time, type, fields, prev_hash: prev };
      assert.equal(recordHash(record), createHash('sha256').update(canonicalJson(record)).digest('hex'));
    }),
    { numRuns: 500 },
  );
});

test('privacy: IPs become stable keyed pseudonyms, redacted fields are masked', () => {
  const p = new AuditPrivacy({ ipKey: 'k', redactFields: ['email'] });
  const out = p.apply({ ip: '203.0.113.9', nested: { email: 'a@b.c', ok: 1 } });
  assert.match(String(out['ip']), /^ip_[0-9a-f]{32}$/);
  assert.equal(out['ip'], p.ip('203.0.113.9'));
  assert.notEqual(p.ip('203.0.113.9'), p.ip('203.0.113.10'));
  assert.deepEqual(out['nested'], { email: '[redacted]', ok: 1 });
});

for (const make of [sqliteBackend, pgBackend]) {
  const backend = make();
  describe(`audit store contract (${backend.name})`, () => {
    const dbs: Db[] = [];
    after(async () => {
      for (const db of dbs) await db.close();
      await backend.cleanup();
    });

    /** A fresh store with `n` records written through the group-commit log, checkpoint every 10. */
    async function filled(n: number): Promise<{ store: AuditStore; db: Db }> {
      const db = await backend.open();
      dbs.push(db);
      const store = new AuditStore(db, key, 10);
      await store.init();
      let t = Date.parse('2025-01-01T00:00:00Z');
      const log = new AuditLog(store, { now: () => (t += 1000) });
      for (let i = 1; i <= n; i++) log.append({ type: i % 2 ? 'request.denied' : 'auth.success', fields: { requestId: `r${i}`, status: 403, n: i } });
      await log.flush();
      await log.close();
      return { store, db };
    }

    test('an untouched chain verifies, with signed checkpoints', async () => {
      const { store } = await filled(35);
      const result = await verifyChain(store, key);
      assert.deepEqual(result, { ok: true, records: 35, checkpoints: 3, lastSeq: 35, heads: 0, macs: 35, unanchored: 0 });
    });

    test('durable() resolves only once records are committed', async () => {
      const db = await backend.open();
      dbs.push(db);
      const store = new AuditStore(db, key, 1000);
      await store.init();
      const log = new AuditLog(store, { flushIntervalMs: 5 });
      log.append({ type: 'x', fields: { a: 1 } });
      log.append({ type: 'x', fields: { a: 2 } });
      await log.durable();
      assert.equal((await store.tail(10)).length, 2);
      await log.close();
    });

    test('edit: a changed field fails at that record', async () => {
      const { store, db } = await filled(25);
      await db.run('UPDATE audit_records SET fields = $1 WHERE seq = 12', [canonicalJson({ requestId: 'r12', status: 200, n: 12 })]);
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 12);
      assert.match(result.firstBad!.reason, /hash does not match/);
    });

    test('edit with a recomputed hash fails at that record (its MAC) and, with a public key only, at the next link', async () => {
      const { store, db } = await filled(25);
      const [r] = await store.page(11, 1);
      const forged = { ...r!, fields: { ...r!.fields, status: 200 } };
      await db.run('UPDATE audit_records SET fields = $1, hash = $2 WHERE seq = 12', [canonicalJson(forged.fields), recordHash(forged)]);
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 12);
      assert.match(result.firstBad!.reason, /MAC invalid/);
      const publicOnly = await verifyChain(store, signingKeyFromPem(key.publicKey.export({ type: 'spki', format: 'pem' }) as string));
      assert.equal(publicOnly.firstBad?.seq, 13);
    });

    test('delete: a removed record is named', async () => {
      const { store, db } = await filled(25);
      await db.run('DELETE FROM audit_records WHERE seq = 7');
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 7);
      assert.match(result.firstBad!.reason, /missing/);
    });

    test('insert: a record slipped in (later ones renumbered, hash forged) is named', async () => {
      const { store, db } = await filled(25);
      const [prev] = await store.page(6, 1);
      await db.run('UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 8');
      await db.run('UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1008');
      const fake = { seq: 8, time: prev!.time, type: 'auth.success', fields: { requestId: 'evil' }, prev_hash: prev!.hash };
      await db.run('INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)', [8, fake.time, fake.type, canonicalJson(fake.fields), fake.prev_hash, recordHash(fake)]);
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 8);
      assert.match(result.firstBad!.reason, /no MAC/);
    });

    test('reorder: two records swapped fail at the first of them', async () => {
      const { store, db } = await filled(25);
      await db.run('UPDATE audit_records SET seq = -1 WHERE seq = 15');
      await db.run('UPDATE audit_records SET seq = 15 WHERE seq = 16');
      await db.run('UPDATE audit_records SET seq = 16 WHERE seq = -1');
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 15);
    });

    test('truncation past a checkpoint is detected', async () => {
      const { store, db } = await filled(25);
      await db.run('DELETE FROM audit_records WHERE seq >= 18');
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 18);
    });

    test('a forged checkpoint signature is detected', async () => {
      const { store, db } = await filled(25);
      await db.run("UPDATE audit_checkpoints SET signature = 'AAAA' WHERE seq = 10");
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 10);
      assert.match(result.firstBad!.reason, /signature/);
    });

    test('a rewritten chain (hashes recomputed) with a checkpoint re-signed by another key is detected', async () => {
      const { store, db } = await filled(25);
      const attacker = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      let prevHash = '';
      for (const record of await store.page(11, 100)) {
        const forged = { ...record, fields: record.seq === 12 ? { ...record.fields, status: 200 } : record.fields, prev_hash: prevHash || record.prev_hash };
        const hash = recordHash(forged);
        await db.run('UPDATE audit_records SET fields = $1, prev_hash = $2, hash = $3 WHERE seq = $4', [canonicalJson(forged.fields), forged.prev_hash, hash, record.seq]);
        if (record.seq === 20) {
          await db.run('UPDATE audit_checkpoints SET hash = $1, signature = $2 WHERE seq = 20', [hash, signCheckpoint(attacker, 20, hash, record.time)]);
        }
        prevHash = hash;
      }
      const result = await verifyChain(store, key);
      assert.equal(result.ok, false);
      assert.equal(result.firstBad?.seq, 20);
      assert.match(result.firstBad!.reason, /signature/);
    });

    test('retention prunes up to a checkpoint and the rest still verifies', async () => {
      const { store } = await filled(25);
      const deleted = await store.prune('2025-01-01T00:00:21Z');
      assert.equal(deleted, 20);
      const result = await verifyChain(store, key);
      assert.equal(result.ok, true, JSON.stringify(result.firstBad));
      assert.equal(result.records, 6, 'the five left and the audit.pruned record naming seq 20');
      assert.deepEqual((await store.tail(1))[0]?.fields, { through: 20, cutoff: '2025-01-01T00:00:21Z' });
    });

    test('retention with a record stamped out of order (another instance’s clock) leaves no hole', async () => {
      const db = await backend.open();
      dbs.push(db);
      const store = new AuditStore(db, key, 10);
      await store.init();
      const at = (minute: number) => new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString();
      await store.append(Array.from({ length: 15 }, (_, i) => ({ time: at(i === 4 ? 12 : i), type: 'x', fields: { i } })));
      assert.equal(await store.prune(at(11)), 10, 'the whole prefix up to the checkpoint goes');
      const result = await verifyChain(store, key);
      assert.equal(result.ok, true, JSON.stringify(result.firstBad));
      assert.equal(result.records, 6);
    });

    test('a v1 trail (no MACs) migrates: old records verify by their SHA-256 chain, the keyed segment starts after them', async () => {
      const db = await backend.open();
      dbs.push(db);
      await db.exec(`CREATE TABLE audit_records (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, type TEXT NOT NULL, fields TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        CREATE TABLE audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);`);
      let prev = GENESIS_HASH;
      for (let seq = 1; seq <= 6; seq++) {
        const r = { seq, time: `2024-06-01T00:00:0${seq}.000Z`, type: 'legacy', fields: { seq }, prev_hash: prev };
        prev = recordHash(r);
        await db.run('INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)', [seq, r.time, r.type, canonicalJson(r.fields), r.prev_hash, prev]);
        if (seq === 5) {
          const [five] = await db.all('SELECT hash FROM audit_records WHERE seq = 5');
          await db.run('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)', [5, five!['hash'], r.time, key.keyId, signCheckpoint(key, 5, String(five!['hash']), r.time)]);
        }
      }
      const store = new AuditStore(db, key, 10);
      await store.init();
      assert.equal(store.keyedFrom, 7);
      await store.append(Array.from({ length: 8 }, (_, i) => ({ time: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), type: 'x', fields: { i } })));
      const ok = await verifyChain(store, key);
      assert.deepEqual({ ok: ok.ok, records: ok.records, macs: ok.macs, checkpoints: ok.checkpoints }, { ok: true, records: 14, macs: 8, checkpoints: 2 });
      // Stripping the MACs to pass the keyed records off as legacy: the v2 checkpoint at seq 10 signs keyed_from 7.
      await db.run("UPDATE audit_records SET mac = NULL");
      await db.run("UPDATE audit_meta SET value = '1000'");
      const stripped = await verifyChain(store, key);
      assert.equal(stripped.ok, false);
      assert.equal(stripped.firstBad?.seq, 7);
      assert.match(stripped.firstBad!.reason, /no MAC/);
    });

    test('search finds records by type and text', async () => {
      const { store } = await filled(10);
      const found = await store.search({ type: 'request.denied', text: '"r3"' });
      assert.deepEqual(found.map((r) => r.seq), [3]);
    });
  });
}
