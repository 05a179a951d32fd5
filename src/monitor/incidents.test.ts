/**
 * Incident paging on SQLite and PostgreSQL: newest first, a cursor continues after the incident it names, and
 * incidents opened in the same millisecond are neither skipped nor repeated across pages.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb, type Db } from '../audit/db.ts';
import { IncidentStore, type Incident } from './incidents.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

function incident(id: string, openedAt: string, status: 'open' | 'resolved' = 'open'): Incident {
  return {
    id,
    kind: 'auth_failures',
    key: `auth_failures:${id}`,
    severity: 'high',
    status,
    subject: { ip: '192.0.2.1' },
    summary: 'test',
    count: 1,
    firstSeen: openedAt,
    lastSeen: openedAt,
    evidence: { requestIds: [], counts: {}, samples: [] },
    actions: [],
    timeline: [],
  };
}

const backends: [string, () => Promise<{ db: Db; cleanup: () => Promise<void> }>][] = [
  ['sqlite', async () => ({ db: await openDb({ kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'rampart-inc-')), 'audit.db') }), cleanup: async () => undefined })],
  [
    'postgres',
    async () => {
      const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
      const db = await openDb({ kind: 'postgres', url: PG_URL, schema });
      return {
        db,
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
      const store = new IncidentStore(db);
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
  });
}
