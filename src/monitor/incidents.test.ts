/**
 * Incident paging on SQLite and PostgreSQL: newest first, a cursor continues after the incident it names, and
 * incidents opened in the same millisecond are neither skipped nor repeated across pages. Incidents are encrypted
 * at rest: no subject or evidence in a copy of the database, a record copied to another row does not decrypt, the
 * incidents an older version stored in clear are encrypted at start, and the data key re-wraps under a new KEK.
 * IP blocks likewise: looked up by a keyed hash, the IP sealed to its row, clear rows of an older version moved at
 * start (also those written during a rolling upgrade), and a tampered IP fails closed.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb, type Db } from '../audit/db.ts';
import { IncidentStore, type Incident } from './incidents.ts';
import { DecryptionError } from '../store/encryption/cipher.ts';
import { Keyring, KeyringError } from '../store/encryption/keyring.ts';

const keyringOf = (keks: { id: string; key: Buffer }[], active = keks[0]!.id) => new Keyring(keks, active);
const KEK = { id: 'k1', key: randomBytes(32) };

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

function incident(id: string, openedAt: string, status: 'open' | 'resolved' = 'open', ip = '192.0.2.1'): Incident {
  return {
    id,
    kind: 'auth_failures',
    key: `auth_failures:ip:${ip}`,
    severity: 'high',
    status,
    subject: { ip, consumer: `consumer-of-${id}` },
    summary: 'test',
    count: 1,
    firstSeen: openedAt,
    lastSeen: openedAt,
    evidence: { requestIds: [], counts: {}, samples: [] },
    actions: [],
    timeline: [],
  };
}

interface Backend {
  readonly db: Db;
  /** `tampered`: the test wrote plaintext around Rampart, so its SQLite file goes too (see withBackend). */
  cleanup(tampered?: boolean): Promise<void>;
  /** Another connection to the same database (a second instance, a restart). */
  again(): Promise<Db>;
  /** What a copy of the database yields: the SQLite file with its WAL, or every column of every table. */
  copy(): Promise<string>;
}

const backends: [string, () => Promise<Backend>][] = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rampart-inc-'));
      const path = join(dir, 'audit.db');
      return {
        db: await openDb({ kind: 'sqlite', path }),
        cleanup: async (tampered) => {
          if (tampered) rmSync(dir, { recursive: true, force: true });
        },
        again: () => openDb({ kind: 'sqlite', path }),
        copy: async () => [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('latin1')).join('\n'),
      };
    },
  ],
  [
    'postgres',
    async () => {
      const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
      const db = await openDb({ kind: 'postgres', url: PG_URL, schema });
      return {
        db,
        again: () => openDb({ kind: 'postgres', url: PG_URL, schema }),
        copy: async () => {
          const out: unknown[] = [];
          for (const t of await db.all('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])) {
            out.push(await db.all(`SELECT * FROM "${schema}"."${String(t['table_name'])}"`));
          }
          return JSON.stringify(out);
        },
        cleanup: async () => {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  ],
];

for (const [name, open] of backends) {
  describe(`incident paging (${name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups) await cleanup();
    });

    test('pages of 2 walk every incident once, newest first, ties broken by id; a filter pages too', async () => {
      const { db, cleanup } = await open();
      cleanups.push(async () => {
        await db.close();
        await cleanup();
      });
      const store = new IncidentStore(db, keyringOf([KEK]));
      await store.init();
      const same = '2026-12-01T10:00:00.000Z';
      const rows = [incident('inc_a', same), incident('inc_b', same), incident('inc_c', same, 'resolved'), incident('inc_d', '2026-12-01T11:00:00.000Z'), incident('inc_e', '2026-12-01T09:00:00.000Z')];
      for (const row of rows) await store.save(row);

      const walk = async (status?: 'open' | 'resolved') => {
        const seen: string[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.list({ limit: 2, ...(status ? { status } : {}), ...(after ? { after } : {}) });
          seen.push(...page.map((i) => i.id));
          if (page.length < 2) break;
          after = page.at(-1)!.id;
        }
        return seen;
      };
      assert.deepEqual(await walk(), ['inc_d', 'inc_c', 'inc_b', 'inc_a', 'inc_e']);
      assert.deepEqual(await walk('open'), ['inc_d', 'inc_b', 'inc_a', 'inc_e']);
      assert.deepEqual(await store.list({ after: 'inc_unknown' }), [], 'an unknown cursor is an empty page, not the first page again');
    });

    /**
     * Runs `fn` on a fresh database. `tampered`: `fn` writes plaintext around Rampart (an attacker with write access);
     * its SQLite file is removed afterwards, since what is left is the attacker's data, not what Rampart stores, and
     * `npm test` scans every store the suite leaves behind for plaintext (scripts/store-scan.ts). Others are kept.
     */
    const withBackend = async (fn: (b: Backend) => Promise<void>, { tampered = false } = {}) => {
      const backend = await open();
      const extra: Db[] = [];
      cleanups.push(async () => {
        for (const db of extra) await db.close();
        await backend.db.close();
        await backend.cleanup(tampered);
      });
      await fn({ ...backend, again: async () => {
        const db = await backend.again();
        extra.push(db);
        return db;
      } });
    };

    test('encrypted at rest: a copy holds no subject, and a record copied to another row does not decrypt', async () => {
      await withBackend(async ({ db, copy }) => {
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        const ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
        await store.save(incident('inc_a', '2026-12-01T10:00:00.000Z', 'open', ip));
        await store.save(incident('inc_b', '2026-12-01T11:00:00.000Z', 'open', '203.0.113.9'));
        assert.equal((await store.get('inc_a'))?.subject.ip, ip);
        const text = await copy();
        assert.ok(text.includes('inc_a'), 'a real copy');
        for (const plain of [ip, 'consumer-of-inc_a', `auth_failures:ip:${ip}`]) assert.ok(!text.includes(plain), `${plain} not in the copy`);
        await db.run("UPDATE rampart_incidents SET data = (SELECT data FROM rampart_incidents WHERE id = 'inc_a') WHERE id = 'inc_b'");
        await assert.rejects(store.get('inc_b'), DecryptionError);
        await assert.rejects(store.list(), DecryptionError, 'the list fails closed');
        await db.run("UPDATE rampart_incidents SET data = incident_key WHERE id = 'inc_a'");
        await assert.rejects(store.get('inc_a'), DecryptionError, 'column swap');
        await db.run("UPDATE rampart_incidents SET data = $1 WHERE id = 'inc_a'", [JSON.stringify(incident('inc_a', '2026-12-01T10:00:00.000Z'))]);
        await assert.rejects(store.get('inc_a'), DecryptionError, 'plaintext written around Rampart is refused');
      }, { tampered: true });
    });

    test('upgrade: incidents stored in clear by an older version are encrypted at start; a second start leaves them be', async () => {
      await withBackend(async ({ db, again, copy }) => {
        // An older version: the tables without a data key, the record in clear.
        await db.exec(`CREATE TABLE rampart_incidents (id TEXT PRIMARY KEY, incident_key TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL)`);
        const old = incident('inc_old', '2026-11-01T10:00:00.000Z', 'open', '192.0.2.77');
        await db.run('INSERT INTO rampart_incidents (id, incident_key, kind, severity, status, opened_at, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)', [old.id, old.key, old.kind, old.severity, old.status, old.firstSeen, JSON.stringify(old)]);
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        assert.deepEqual(await store.get('inc_old'), old);
        assert.ok(!(await copy()).includes('192.0.2.77'), 'no plaintext left after the upgrade');
        const second = new IncidentStore(await again(), keyringOf([KEK]));
        await second.init();
        assert.deepEqual(await second.get('inc_old'), old, 'not encrypted twice');
      });
    });

    test('rotate-kek re-wraps the incidents data key; a start without the KEK in use fails naming store.encryption.keks', async () => {
      await withBackend(async ({ db, again }) => {
        const a = { id: 'kek-a', key: randomBytes(32) };
        const b = { id: 'kek-b', key: randomBytes(32) };
        const running = new IncidentStore(db, keyringOf([a]));
        await running.init();
        await running.save(incident('inc_a', '2026-12-01T10:00:00.000Z'));
        await assert.rejects(new IncidentStore(await again(), keyringOf([b])).init(), (e: unknown) => e instanceof KeyringError && /^store\.encryption\.keks: .*KEK "kek-a", which is not configured/.test((e as Error).message));
        const rotating = [new IncidentStore(await again(), keyringOf([a, b], 'kek-b')), new IncidentStore(await again(), keyringOf([a, b], 'kek-b'))];
        for (const s of rotating) await s.init();
        const reports = await Promise.all(rotating.map((s) => s.rotateKek()));
        assert.equal(reports.flatMap((r) => r.rewrapped).length, 3, 'the incidents, blocks and block-lookup keys: each re-wrapped by one run, the other found it done');
        assert.deepEqual(reports[0]!.byKek, { 'kek-b': 3 });
        await running.save(incident('inc_b', '2026-12-01T11:00:00.000Z'));
        await running.putBlock({ ip: '192.0.2.44', until: Date.now() + 60_000, reason: 'during rotation' });
        const after = new IncidentStore(await again(), keyringOf([b]));
        await after.init();
        assert.deepEqual((await after.list()).map((i) => i.id), ['inc_b', 'inc_a'], 'kek-b alone reads old and new incidents');
        assert.deepEqual((await after.activeBlocks(Date.now())).map((e) => e.ip), ['192.0.2.44'], 'and the blocks');
        assert.equal(await after.deleteBlock('192.0.2.44'), true, 'the lookup key re-wrapped is the same key');
      });
    });

    const soon = () => Date.now() + 60_000;
    const ipsOf = async (store: IncidentStore) => (await store.activeBlocks(Date.now())).map((e) => e.ip).sort();

    test('blocks: put, replace, list, lift by IP; expired ones are not listed; no IP in a copy; another instance reads them', async () => {
      await withBackend(async ({ db, again, copy }) => {
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        const ip = `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
        const v6 = '2001:db8::beef:7';
        await store.putBlock({ ip, until: soon(), incidentId: 'inc_x', reason: 'auth_failures (inc_x)' });
        await store.putBlock({ ip: v6, until: soon(), reason: 'manual' });
        await store.putBlock({ ip: '192.0.2.200', until: Date.now() - 1, reason: 'expired' });
        const until = soon() + 5000;
        await store.putBlock({ ip, until, incidentId: 'inc_y', reason: 'auth_failures (inc_y)' });
        assert.deepEqual((await store.activeBlocks(Date.now())).find((e) => e.ip === ip), { ip, until, incidentId: 'inc_y', reason: 'auth_failures (inc_y)' }, 'replaced, not duplicated');
        assert.deepEqual(await ipsOf(store), [v6, ip].sort());
        const rows = await db.all('SELECT ip_hash, ip FROM rampart_ip_blocks');
        assert.equal(rows.length, 3);
        for (const row of rows) {
          assert.match(String(row['ip_hash']), /^[0-9a-f]{64}$/);
          assert.match(String(row['ip']), /^rk1\./);
        }
        const text = await copy();
        assert.ok(text.includes('inc_y'), 'a real copy');
        for (const plain of [ip, v6, '192.0.2.200']) assert.ok(!text.includes(plain), `${plain} not in the copy`);

        const other = new IncidentStore(await again(), keyringOf([KEK]));
        await other.init();
        assert.deepEqual(await ipsOf(other), [v6, ip].sort(), 'the same lookup key on every instance');
        assert.equal(await other.deleteBlock(ip), true);
        assert.equal(await store.deleteBlock(ip), false, 'lifted once');
        assert.deepEqual(await ipsOf(store), [v6]);
      });
    });

    test('blocks an older version stored in clear are moved to the encrypted table at start, also those it writes during a rolling upgrade', async () => {
      await withBackend(async ({ db, again, copy }) => {
        const legacy = (ip: string, until: number, incident: string | null) =>
          db.run('INSERT INTO rampart_blocks (ip, until_ms, incident_id, reason) VALUES ($1, $2, $3, $4)', [ip, until, incident, `auth_failures (${incident ?? 'manual'})`]);
        await db.exec('CREATE TABLE rampart_blocks (ip TEXT PRIMARY KEY, until_ms BIGINT NOT NULL, incident_id TEXT, reason TEXT NOT NULL)');
        const first = soon();
        await legacy('192.0.2.71', first, 'inc_old');
        await legacy('2001:db8::71', first, null);
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        assert.deepEqual(await store.activeBlocks(Date.now()).then((b) => b.sort((x, y) => x.ip.localeCompare(y.ip))), [
          { ip: '192.0.2.71', until: first, incidentId: 'inc_old', reason: 'auth_failures (inc_old)' },
          { ip: '2001:db8::71', until: first, reason: 'auth_failures (manual)' },
        ]);
        assert.deepEqual(await db.all('SELECT ip FROM rampart_blocks'), [], 'the legacy table is emptied (and kept for older instances)');
        let text = await copy();
        for (const plain of ['192.0.2.71', '2001:db8::71']) assert.ok(!text.includes(plain), `${plain} not in the copy after the upgrade`);

        // An older instance still running blocks two IPs (one already blocked, for longer), a new one blocks a third.
        const longer = soon() + 120_000;
        await legacy('192.0.2.71', longer, 'inc_again');
        await legacy('192.0.2.72', first, 'inc_old2');
        await store.putBlock({ ip: '192.0.2.73', until: first, reason: 'new' });
        const next = new IncidentStore(await again(), keyringOf([KEK]));
        await next.init();
        assert.deepEqual(await ipsOf(next), ['192.0.2.71', '192.0.2.72', '192.0.2.73', '2001:db8::71']);
        assert.equal((await next.activeBlocks(Date.now())).find((e) => e.ip === '192.0.2.71')?.until, longer, 'the longer block wins');
        text = await copy();
        for (const plain of ['192.0.2.71', '192.0.2.72', '192.0.2.73']) assert.ok(!text.includes(plain), `${plain} not in the copy`);
        assert.equal(await next.deleteBlock('192.0.2.72'), true, 'a migrated block is lifted by IP');
        const third = new IncidentStore(await again(), keyringOf([KEK]));
        await third.init();
        assert.deepEqual(await ipsOf(third), ['192.0.2.71', '192.0.2.73', '2001:db8::71'], 'a start with nothing to move changes nothing');
      });
    });

    test('a tampered block fails closed: moved, truncated or plaintext IPs are a DecryptionError, never returned', async () => {
      await withBackend(async ({ db, again }) => {
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        await store.putBlock({ ip: '192.0.2.81', until: soon(), reason: 'a' });
        await store.putBlock({ ip: '192.0.2.82', until: soon(), reason: 'b' });
        const sealed = await db.all('SELECT ip_hash, ip FROM rampart_ip_blocks');
        const restore = async () => {
          for (const row of sealed) await db.run('UPDATE rampart_ip_blocks SET ip = $1 WHERE ip_hash = $2', [row['ip'], row['ip_hash']]);
          assert.deepEqual(await ipsOf(store), ['192.0.2.81', '192.0.2.82']);
        };
        await db.run('UPDATE rampart_ip_blocks SET ip = $1 WHERE ip_hash = $2', [sealed[0]!['ip'], sealed[1]!['ip_hash']]);
        await assert.rejects(store.activeBlocks(Date.now()), DecryptionError, 'an IP moved to another row');
        await restore();
        await db.run('UPDATE rampart_ip_blocks SET ip = substr(ip, 1, length(ip) - 4) WHERE ip_hash = $1', [sealed[0]!['ip_hash']]);
        await assert.rejects(store.activeBlocks(Date.now()), DecryptionError, 'truncated');
        await restore();
        await db.run('UPDATE rampart_ip_blocks SET ip = $1 WHERE ip_hash = $2', ['203.0.113.66', sealed[0]!['ip_hash']]);
        await assert.rejects(store.activeBlocks(Date.now()), DecryptionError, 'plaintext written around Rampart');
        const restarted = new IncidentStore(await again(), keyringOf([KEK]));
        await restarted.init();
        await assert.rejects(restarted.activeBlocks(Date.now()), DecryptionError, 'what a start loads fails too');
      }, { tampered: true });
    });

    test('blocks stored while their data keys went missing stop start-up instead of being buried under new keys', async () => {
      await withBackend(async ({ db, again }) => {
        const store = new IncidentStore(db, keyringOf([KEK]));
        await store.init();
        await store.putBlock({ ip: '192.0.2.91', until: soon(), reason: 'a' });
        await db.run("DELETE FROM rampart_data_keys WHERE purpose LIKE 'rampart_ip_blocks%'");
        await assert.rejects(new IncidentStore(await again(), keyringOf([KEK])).init(), (e: unknown) => e instanceof KeyringError && /rampart_ip_blocks holds encrypted blocks, but the data key/.test((e as Error).message));
        assert.equal((await db.all('SELECT id FROM rampart_data_keys')).length, 1, 'no new blocks key was committed');
      });
    });
  });
}
