/**
 * The audit writer's deadlines and chain lock, attacked (found by a red-team pass, fixed): a long retention prune
 * has its own deadline and the batch queued behind it counts from when the worker can start on it; an instance of
 * an older version and a newer one on the same non-public PostgreSQL schema take turns on the one chain lock.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb, type Db, type DbOptions } from '../../src/audit/db.ts';
import { AuditStore, CHAIN_LOCK } from '../../src/audit/store.ts';
import { canonicalJson, linkRecords } from '../../src/audit/chain.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { signingKeyFromPem } from '../../src/audit/signing.ts';
import { ThreadedAuditWriter } from '../../src/audit/writer.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const dir = mkdtempSync(join(tmpdir(), 'rt2-audit-'));
const dbs: Db[] = [];
const schemas: string[] = [];

after(async () => {
  for (const db of dbs) await db.close().catch(() => undefined);
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
  rmSync(dir, { recursive: true, force: true });
});

const old = (i: number) => ({ time: new Date(Date.UTC(2020, 0, 1, 0, 0, 0, i)).toISOString(), type: 'request.denied', fields: { requestId: `r${i}`, pad: 'x'.repeat(64) } });
const BATCH_DEADLINE_MS = 60;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function count(store: AuditStore): Promise<number> {
  return Number((await store.db.all('SELECT COUNT(*) AS n FROM audit_records'))[0]!['n']);
}

describe('a long retention prune is not killed by the batch deadline', () => {
  test('a prune longer than requestTimeoutMs completes, and the batch queued behind it is committed', async () => {
    const options: DbOptions = { kind: 'sqlite', path: join(dir, 'prune.db') };
    const db = await openDb(options);
    dbs.push(db);
    const store = new AuditStore(db, key, { checkpointEvery: 1000 });
    await store.init();
    // A backlog past retention (records the gateway itself wrote: every denied request is audited).
    for (let b = 0; b < 40; b++) await store.append(Array.from({ length: 1000 }, (_, i) => old(b * 1000 + i)));
    assert.equal(await count(store), 40_000);
    // A batch deadline far shorter than the prune (scaled down: the default is 10 s, and a prune of millions of
    // rows on a real disk takes longer); the prune has its own (default 10 min).
    const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 1000, keyedFrom: store.keyedFrom, requestTimeoutMs: BATCH_DEADLINE_MS, respawnAfterMs: 100 });
    const cutoff = new Date(Date.UTC(2021, 0, 1)).toISOString();
    // The append the gateway sends while retention runs is queued behind the prune in the worker.
    const started = Date.now();
    const prune = writer.prune(cutoff, Date.now());
    const append = writer.append([old(999_999)]);
    const deleted = await prune;
    const pruneMs = Date.now() - started;
    assert.ok(deleted > 30_000, `pruned ${deleted}`);
    assert.ok(pruneMs > BATCH_DEADLINE_MS, `the prune (${pruneMs} ms) outlasted the batch deadline, or this proves nothing`);
    assert.ok((await append) !== undefined, `the batch behind a ${pruneMs} ms prune was committed`);
    await writer.close();
    assert.ok((await count(store)) < 10_000);
    const result = await verifyChain(store, key);
    assert.equal(result.ok, true, JSON.stringify(result));
  });
});

describe('an old and a new instance on one non-public PostgreSQL schema take turns on the chain lock', () => {
  test('the new instance waits for the old one\'s lock, then links after its record', async () => {
    const schema = `rt2_mixed_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const options: DbOptions = { kind: 'postgres', url: PG_URL, schema };
    const db = await openDb(options);
    dbs.push(db);
    const store = new AuditStore(db, key, { checkpointEvery: 1000 });
    await store.init();
    await store.append([old(1)]);

    // The old version (27755bb) on the same schema: BEGIN; pg_advisory_xact_lock(CHAIN_LOCK) — one key, any schema.
    const oldInstance = new pg.Client({ connectionString: PG_URL });
    await oldInstance.connect();
    try {
      await oldInstance.query('BEGIN');
      await oldInstance.query(`SET search_path TO "${schema}"`);
      await oldInstance.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK]);
      const row = (await oldInstance.query('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1')).rows[0] as { seq: string; hash: string };
      const [record] = linkRecords({ seq: Number(row.seq), hash: row.hash }, [old(2)], key.macKey!).records;
      await oldInstance.query('INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash, mac) VALUES ($1,$2,$3,$4,$5,$6,$7)', [
        record!.seq, record!.time, record!.type, canonicalJson(record!.fields), record!.prev_hash, record!.hash, record!.mac,
      ]);
      // The new version's append waits for the old instance's lock, then reads the tail the old one committed.
      const started = Date.now();
      const newAppend = store.append([old(3)]);
      newAppend.catch(() => undefined);
      await sleep(300);
      await oldInstance.query('COMMIT');
      const appended = await newAppend;
      assert.equal(appended.at(-1)?.seq, 3);
      assert.ok(Date.now() - started >= 250, 'it waited for the lock');
    } finally {
      await oldInstance.end();
    }
    const result = await verifyChain(store, key);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.records, 3, 'both instances\' records are in the one chain');
  });
});
