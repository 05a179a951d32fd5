/**
 * Issue 11 finding 3: an attacker with write access to the audit database but not the audit key. Each row of the
 * table in docs/audit.md ("What an attacker with database write access can and cannot do") on SQLite and on
 * PostgreSQL: a trail written by the real audit service (group-commit log, checkpoints, head publisher), a head
 * published by it and kept off-host, then the tampering done with plain SQL, then `rampart audit verify --head`
 * (the CLI command itself) must exit 1 naming the first bad record — or, for the documented limits, exit 0.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { canonicalJson, recordHash } from '../../src/audit/chain.ts';
import type { Db } from '../../src/audit/db.ts';
import { openAuditDb, openAuditService } from '../../src/audit/service.ts';
import { signCheckpoint, signingKeyFromPem } from '../../src/audit/signing.ts';
import { runAudit } from '../../src/cli/audit.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
process.env['RAMPART_TEST_AUDIT_PG_URL'] = PG_URL;
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const RECORDS = 35;
const CHECKPOINT_EVERY = 10;

interface Trail {
  readonly config: string;
  readonly dir: string;
  /** The head published when the trail was written, saved apart from the data (what an operator ships off-host). */
  readonly head: string;
  readonly db: Db;
}

interface VerifyOutput {
  readonly code: number;
  readonly result: { ok: boolean; lastSeq: number; firstBad?: { seq: number; reason: string } };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`audit tampering with database write access (${kind})`, () => {
    const schemas: string[] = [];
    const open: Db[] = [];
    after(async () => {
      for (const db of open) await db.close().catch(() => undefined);
      if (kind !== 'postgres') return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await client.end();
    });

    /** A trail of RECORDS records (checkpoints at 10, 20, 30) written by the audit service, and its published head. */
    async function trail(): Promise<Trail> {
      const dir = mkdtempSync(join(tmpdir(), `rampart-tamper-${kind}-`));
      const schema = `rampart_tamper_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const store = kind === 'postgres' ? `{ kind: postgres, url: "\${env:RAMPART_TEST_AUDIT_PG_URL}", schema: ${schema} }` : '{ kind: sqlite }';
      const config = join(dir, 'rampart.yaml');
      writeFileSync(
        config,
        `listen: { http: { port: 0, host: 127.0.0.1, insecure: true } }
upstreams: { up: { url: "http://127.0.0.1:9" } }
apis: [ { name: pass, passthrough: true, upstream: up } ]
audit: { store: ${store}, checkpoint_every: ${CHECKPOINT_EVERY}, durability: async }
${kind === 'postgres' ? 'store: { encryption: { keks: [ { id: k1, key: "${file:kek}" } ], active: k1 } }\n' : ''}`,
      );
      writeFileSync(join(dir, 'kek'), randomBytes(32).toString('base64'), { mode: 0o600 });
      const { config: loaded, file } = loadConfigFile(config);
      let t = Date.parse('2026-03-01T00:00:00Z');
      const service = await openAuditService(loaded.audit, file, quiet, () => (t += 1000));
      for (let i = 1; i <= RECORDS; i++) service.log.append({ type: i % 2 ? 'request.denied' : 'auth.success', fields: { requestId: `r${i}`, status: 403, n: i } });
      await service.close();
      const head = join(dir, 'published-head.json');
      copyFileSync(join(dir, 'data', 'audit-head.json'), head);
      // A second handle for the attacker's SQL (the service closed its own).
      const db = await openAuditDb(loaded.audit, file);
      open.push(db);
      return { config, dir, head, db };
    }

    /** `rampart audit verify` with the given extra arguments; the gateway's own head file is removed unless kept. */
    async function verify(t: Trail, args: string[], keepLocalHead = false): Promise<VerifyOutput> {
      if (!keepLocalHead) rmSync(join(t.dir, 'data', 'audit-head.json'), { force: true });
      let out = '';
      const sink = new Writable({ write: (chunk, _e, cb) => ((out += String(chunk)), cb()) });
      const stderr = process.stderr.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      try {
        const code = await runAudit(t.config, ['verify', '-c', t.config, ...args], sink);
        return { code, result: JSON.parse(out) as VerifyOutput['result'] };
      } finally {
        process.stderr.write = stderr;
      }
    }

    const broken = (v: VerifyOutput, seq: number, reason: RegExp) => {
      assert.equal(v.code, 1, JSON.stringify(v.result));
      assert.equal(v.result.ok, false);
      assert.equal(v.result.firstBad?.seq, seq, JSON.stringify(v.result.firstBad));
      assert.match(v.result.firstBad!.reason, reason);
    };

    /** Recomputes the SHA-256 chain from `fromSeq` on (optionally editing fields), as a keyless attacker can. */
    async function rewriteFrom(db: Db, fromSeq: number, edit: (fields: Record<string, unknown>, seq: number) => Record<string, unknown>): Promise<void> {
      const rows = await db.all('SELECT seq, time, type, fields, prev_hash, hash FROM audit_records WHERE seq >= $1 ORDER BY seq', [fromSeq]);
      let prevHash = String(rows[0]!['prev_hash']);
      for (const row of rows) {
        const seq = Number(row['seq']);
        const fields = edit(JSON.parse(String(row['fields'])) as Record<string, unknown>, seq);
        const hash = recordHash({ seq, time: String(row['time']), type: String(row['type']), fields, prev_hash: prevHash });
        await db.run('UPDATE audit_records SET fields = $1, prev_hash = $2, hash = $3 WHERE seq = $4', [canonicalJson(fields), prevHash, hash, seq]);
        prevHash = hash;
      }
    }

    test('baseline: the untouched trail verifies against its published head', async () => {
      const t = await trail();
      const v = await verify(t, ['--head', t.head]);
      assert.equal(v.code, 0, JSON.stringify(v.result));
      assert.deepEqual({ ok: v.result.ok, lastSeq: v.result.lastSeq }, { ok: true, lastSeq: RECORDS });
    });

    test('cannot: delete the last records (after the last checkpoint)', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq > 32');
      broken(await verify(t, ['--head', t.head]), 33, /missing \(truncated or rolled back\)/);
    });

    test('cannot: delete the last records, found with the head file beside the data (no --head)', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq > 32');
      broken(await verify(t, [], true), 33, /published head/);
    });

    test('cannot: rewrite every record after the last checkpoint with a recomputed SHA-256 chain', async () => {
      const t = await trail();
      await rewriteFrom(t.db, 31, (fields) => ({ ...fields, status: 200 }));
      broken(await verify(t, ['--head', t.head]), 31, /MAC invalid/);
    });

    test('cannot: …the same rewrite, with the MACs stripped to pass the records off as legacy', async () => {
      const t = await trail();
      await rewriteFrom(t.db, 31, (fields) => ({ ...fields, status: 200 }));
      await t.db.run('UPDATE audit_records SET mac = NULL WHERE seq >= 31');
      await t.db.run("UPDATE audit_meta SET value = '1000'");
      broken(await verify(t, ['--head', t.head]), 31, /no MAC/);
    });

    test('cannot: …the same rewrite, seen with the public key only (the published head no longer matches)', async () => {
      const t = await trail();
      await rewriteFrom(t.db, 31, (fields, seq) => (seq === 33 ? { ...fields, status: 200 } : fields));
      const pub = join(t.dir, 'audit.pub.pem');
      const key = signingKeyFromPem(readFileSync(join(t.dir, 'data', 'audit-signing.key'), 'utf8'));
      writeFileSync(pub, key.publicKey.export({ type: 'spki', format: 'pem' }) as string);
      broken(await verify(t, ['--head', t.head, '--public-key', pub]), RECORDS, /does not match the published head/);
    });

    test('cannot: append a forged record (linked by SHA-256, MAC copied from another record)', async () => {
      const t = await trail();
      const [last] = await t.db.all('SELECT seq, time, hash, mac FROM audit_records ORDER BY seq DESC LIMIT 1');
      const forged = { seq: RECORDS + 1, time: '2026-03-01T00:01:00.000Z', type: 'auth.success', fields: { requestId: 'evil' }, prev_hash: String(last!['hash']) };
      await t.db.run('INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash, mac) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        forged.seq,
        forged.time,
        forged.type,
        canonicalJson(forged.fields),
        forged.prev_hash,
        recordHash(forged),
        String(last!['mac']),
      ]);
      broken(await verify(t, ['--head', t.head]), RECORDS + 1, /MAC invalid/);
    });

    test('cannot: delete whole checkpoint periods at the end, with their checkpoint rows', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq > 10');
      await t.db.run('DELETE FROM audit_checkpoints WHERE seq > 10');
      broken(await verify(t, ['--head', t.head]), 11, /published head/);
    });

    test('cannot: delete whole checkpoint periods in the middle, with their checkpoint rows', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq > 10 AND seq <= 30');
      await t.db.run('DELETE FROM audit_checkpoints WHERE seq > 10 AND seq <= 30');
      broken(await verify(t, ['--head', t.head]), 11, /record missing/);
    });

    test('cannot: delete whole checkpoint periods at the start, with their checkpoint rows', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq <= 20');
      await t.db.run('DELETE FROM audit_checkpoints WHERE seq <= 20');
      broken(await verify(t, ['--head', t.head]), 1, /without a signed checkpoint/);
    });

    test('cannot: delete checkpoint periods at the start keeping the checkpoint rows (retention look-alike)', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq <= 20');
      broken(await verify(t, ['--head', t.head]), 1, /retention recorded no deletion/);
    });

    test('cannot: drop both tables (the migration log says they exist)', async () => {
      const t = await trail();
      await t.db.exec('DROP TABLE audit_records; DROP TABLE audit_checkpoints;');
      broken(await verify(t, ['--head', t.head]), 1, /missing or altered/);
    });

    test('cannot: drop every audit table (an empty store is recreated)', async () => {
      const t = await trail();
      await t.db.exec('DROP TABLE audit_records; DROP TABLE audit_checkpoints; DROP TABLE audit_meta; DROP TABLE audit_migrations;');
      broken(await verify(t, ['--head', t.head]), 1, /store is empty/);
    });

    test('cannot: empty both tables', async () => {
      const t = await trail();
      await t.db.exec('DELETE FROM audit_records; DELETE FROM audit_checkpoints;');
      broken(await verify(t, ['--head', t.head]), 1, /store is empty/);
    });

    test('cannot: edit a record', async () => {
      const t = await trail();
      await t.db.run('UPDATE audit_records SET fields = $1 WHERE seq = 12', [canonicalJson({ requestId: 'r12', status: 200, n: 12 })]);
      broken(await verify(t, ['--head', t.head]), 12, /hash does not match/);
    });

    test('cannot: delete a record', async () => {
      const t = await trail();
      await t.db.run('DELETE FROM audit_records WHERE seq = 7');
      broken(await verify(t, ['--head', t.head]), 7, /missing/);
    });

    test('cannot: insert a record (later ones renumbered)', async () => {
      const t = await trail();
      const [prev] = await t.db.all('SELECT time, hash FROM audit_records WHERE seq = 7');
      await t.db.run('UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 8');
      await t.db.run('UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1008');
      const fake = { seq: 8, time: String(prev!['time']), type: 'auth.success', fields: { requestId: 'evil' }, prev_hash: String(prev!['hash']) };
      await t.db.run('INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)', [8, fake.time, fake.type, canonicalJson(fake.fields), fake.prev_hash, recordHash(fake)]);
      broken(await verify(t, ['--head', t.head]), 8, /no MAC/);
    });

    test('cannot: swap two records', async () => {
      const t = await trail();
      await t.db.run('UPDATE audit_records SET seq = -1 WHERE seq = 15');
      await t.db.run('UPDATE audit_records SET seq = 15 WHERE seq = 16');
      await t.db.run('UPDATE audit_records SET seq = 16 WHERE seq = -1');
      broken(await verify(t, ['--head', t.head]), 15, /prev_hash/);
    });

    test('cannot: forge a checkpoint (or sign one with another key)', async () => {
      const t = await trail();
      const attacker = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const [cp] = await t.db.all('SELECT hash, time, keyed_from FROM audit_checkpoints WHERE seq = 20');
      await t.db.run('UPDATE audit_checkpoints SET signature = $1 WHERE seq = 20', [signCheckpoint(attacker, 20, String(cp!['hash']), String(cp!['time']), Number(cp!['keyed_from']))]);
      broken(await verify(t, ['--head', t.head]), 20, /checkpoint signature invalid/);
    });

    test('cannot: pass a head not signed by the audit key', async () => {
      const t = await trail();
      const forged = JSON.parse(readFileSync(t.head, 'utf8')) as Record<string, unknown>;
      const v = await verify(t, ['--head', JSON.stringify({ ...forged, seq: 3 })]);
      broken(v, 3, /published head signature invalid/);
    });

    test('can (documented limit): delete records committed after the newest head the verifier was given', async () => {
      const t = await trail();
      // The head covers seq 35; records 36–37 are committed after it, then deleted before any new head is seen.
      const [last] = await t.db.all('SELECT seq FROM audit_records ORDER BY seq DESC LIMIT 1');
      assert.equal(Number(last!['seq']), RECORDS);
      const { config: loaded, file } = loadConfigFile(t.config);
      const service = await openAuditService(loaded.audit, file, quiet, () => Date.parse('2026-03-01T00:05:00Z'));
      service.log.append({ type: 'late', fields: { n: 1 } });
      service.log.append({ type: 'late', fields: { n: 2 } });
      await service.close();
      const newerHead = join(t.dir, 'newer-head.json');
      copyFileSync(join(t.dir, 'data', 'audit-head.json'), newerHead);
      await t.db.run('DELETE FROM audit_records WHERE seq > $1', [RECORDS]);
      const v = await verify(t, ['--head', t.head]);
      assert.equal(v.code, 0, JSON.stringify(v.result));
      assert.equal(v.result.lastSeq, RECORDS);
      // …but not once the newer head (written at close) is the one given.
      broken(await verify(t, ['--head', newerHead]), RECORDS + 1, /published head/);
    });
  });
}
