/**
 * The audit writer thread (writer.ts) on SQLite and PostgreSQL: the chain it extends verifies, two writers on one
 * store (two gateway processes) interleave into one chain, a writer that dies fails what it held (fail closed) and
 * is replaced, a full queue refuses and counts, and a writer that cannot open its database stops start-up.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { DatabaseSync } from 'node:sqlite';
import { LOCK_TIMEOUT_MS, openDb, type Db, type DbOptions } from './db.ts';
import { AuditStore, CHAIN_LOCK } from './store.ts';
import { AuditLog } from './log.ts';
import { verifyChain } from './verify.ts';
import { signingKeyFromPem } from './signing.ts';
import { AuditWriterUnavailable, ThreadedAuditWriter } from './writer.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const dir = mkdtempSync(join(tmpdir(), 'rampart-writer-'));
const schemas: string[] = [];
const dbs: Db[] = [];
let n = 0;

const backends: { name: string; options(): DbOptions }[] = [
  { name: 'sqlite', options: () => ({ kind: 'sqlite', path: join(dir, `audit-${n++}.db`) }) },
  {
    name: 'postgres',
    options: () => {
      const schema = `rampart_writer_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return { kind: 'postgres', url: PG_URL, schema };
    },
  },
];

after(async () => {
  for (const db of dbs) await db.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
});

async function storeAt(options: DbOptions): Promise<AuditStore> {
  const db = await openDb(options);
  dbs.push(db);
  const store = new AuditStore(db, key, 10);
  await store.init();
  return store;
}

/** Takes the write lock the chain's writers take, from another connection, until the returned function is called. */
async function holdChainLock(options: DbOptions): Promise<() => Promise<void>> {
  if (options.kind === 'sqlite') {
    const other = new DatabaseSync(options.path!);
    other.exec('BEGIN IMMEDIATE');
    return async () => {
      other.exec('ROLLBACK');
      other.close();
    };
  }
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
}

const entry = (i: number) => ({ time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), type: 'request.denied', fields: { requestId: `r${i}`, n: i } });

for (const backend of backends) {
  describe(`audit writer thread (${backend.name})`, () => {
    test('batches appended by the thread form one verifiable chain, with checkpoints it signed, and report the tail', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const tails: { seq: number; count: number }[] = [];
      const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, onAppended: (tail, count) => tails.push({ seq: tail.seq, count }) });
      const log = new AuditLog(store, { writer, flushIntervalMs: 1 });
      for (let i = 1; i <= 25; i++) {
        log.append({ type: 'auth.success', fields: { requestId: `r${i}` } });
        if (i % 7 === 0) await log.durable();
      }
      await log.close();
      assert.deepEqual(await verifyChain(store, key), { ok: true, records: 25, checkpoints: 2, lastSeq: 25, heads: 0, macs: 25, unanchored: 0 });
      assert.equal(tails.at(-1)?.seq, 25);
      assert.equal(tails.reduce((sum, t) => sum + t.count, 0), 25);
      await assert.rejects(writer.append([entry(1)]), AuditWriterUnavailable, 'a closed writer takes nothing');
    });

    test('two writers on one store (two gateway processes) interleave concurrent batches into one chain', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const start = () => ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom });
      const [a, b] = await Promise.all([start(), start()]);
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) writes.push((i % 2 ? a : b).append([entry(2 * i), entry(2 * i + 1)]));
      await Promise.all(writes);
      await Promise.all([a.close(), b.close()]);
      const result = await verifyChain(store, key);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(result.records, 40);
    });

    test('a writer that dies fails the batch it held (not acknowledged), refuses until replaced, then the chain goes on', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, respawnAfterMs: 300 });
      await writer.append([entry(1)]);
      const held = writer.append(Array.from({ length: 200 }, (_, i) => entry(i + 2)));
      await writer.terminate();
      await assert.rejects(held, AuditWriterUnavailable);
      await assert.rejects(writer.append([entry(500)]), /not replaced yet/, 'no respawn storm: refused inside the back-off');
      await new Promise((resolve) => setTimeout(resolve, 350));
      const appended = await writer.append([entry(501)]);
      await writer.close();
      const result = await verifyChain(store, key);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(appended?.seq, result.lastSeq, 'the new worker continued from the committed tail');
      assert.ok(result.records === 2 || result.records === 202, `the held batch is all or nothing (${result.records})`);
    });

    test('a write stuck on the chain lock fails within the deadline (not acknowledged), the worker is replaced, and the chain goes on', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, respawnAfterMs: 200, requestTimeoutMs: 400 });
      await writer.append([entry(1)]);
      const release = await holdChainLock(options);
      const started = Date.now();
      await assert.rejects(writer.append([entry(2)]), /did not answer within 400 ms/);
      assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
      await release();
      await new Promise((resolve) => setTimeout(resolve, 250));
      const appended = await writer.append([entry(3)]);
      const closing = Date.now();
      await writer.close();
      assert.ok(Date.now() - closing < 2000, 'close is bounded too');
      const result = await verifyChain(store, key);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal(appended?.seq, result.lastSeq);
      assert.ok(result.records === 2 || result.records === 3, `the stuck batch is all or nothing (${result.records})`);
    });

    test('a batch queued behind a slow prune counts its deadline from when the worker can start on it', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, requestTimeoutMs: 500, pruneTimeoutMs: 5000 });
      await writer.append([entry(1)]);
      const release = await holdChainLock(options);
      const prune = writer.prune('2000-01-01T00:00:00.000Z', Date.now());
      const append = writer.append([entry(2)]);
      await new Promise((resolve) => setTimeout(resolve, 900));
      await release();
      assert.equal(await prune, 0);
      assert.equal((await append)?.seq, 2, 'the batch waited 900 ms behind the prune and was not failed by a 500 ms deadline');
      await writer.close();
      assert.equal((await verifyChain(store, key)).ok, true);
    });

    test('a full queue refuses records and counts them; durable() rejects until it drains, then recovers', async () => {
      const options = backend.options();
      const store = await storeAt(options);
      const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom });
      const log = new AuditLog(store, { writer, maxQueue: 5, flushIntervalMs: 1 });
      const accepted = Array.from({ length: 8 }, (_, i) => log.append({ type: 'x', fields: { i } }));
      assert.deepEqual(accepted, [true, true, true, true, true, false, false, false]);
      assert.equal(log.refused, 3);
      await assert.rejects(log.durable(), /refused/);
      await log.flush().catch(() => undefined);
      assert.equal(log.append({ type: 'x', fields: { i: 9 } }), true);
      await log.durable();
      await log.close();
      assert.equal((await verifyChain(store, key)).records, 6);
    });
  });
}

test('a writer that cannot open its database stops start-up with the reason', async () => {
  const blocker = join(dir, 'not-a-dir');
  writeFileSync(blocker, 'x');
  await assert.rejects(ThreadedAuditWriter.start({ db: { kind: 'sqlite', path: join(blocker, 'audit.db') }, key, checkpointEvery: 10, keyedFrom: 1 }), /audit writer: .*(EEXIST|ENOTDIR)/);
});

describe('audit writer thread (postgres): the chain lock', () => {
  const options = (): DbOptions & { schema: string } => {
    const schema = `rampart_writer_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return { kind: 'postgres', url: PG_URL, schema };
  };

  test('a lock held elsewhere fails the write after lock_timeout, without ending the worker', async () => {
    const mine = options();
    const store = await storeAt(mine);
    const writer = await ThreadedAuditWriter.start({ db: mine, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, requestTimeoutMs: LOCK_TIMEOUT_MS + 5000 });
    const release = await holdChainLock(mine);
    try {
      await assert.rejects(writer.append([entry(1)]), /audit write failed: .*lock timeout/);
    } finally {
      await release();
    }
    assert.equal((await writer.append([entry(2)]))?.seq, 1, 'the same worker goes on at once');
    await writer.close();
  });
});
