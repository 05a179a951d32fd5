import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { after, it } from 'node:test';
import { storeContract, testKeyring } from '../contract.case.ts';
import type { Store } from '../types.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { SqliteStore } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const keyring = testKeyring();
const pathOf = new Map<Store, string>();
const toSqlite = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

function openAt(path: string, given = keyring): Store {
  const store = new SqliteStore({ path, keyring: given });
  pathOf.set(store, path);
  return store;
}

/** Runs SQL on the file through a connection of its own, as anyone able to write the file could. */
function rawSql(path: string, sql: string, params: readonly unknown[] = []): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { timeout: 5000 });
  try {
    const statement = db.prepare(toSqlite(sql));
    if (/^\s*SELECT/i.test(sql)) return statement.all(...(params as SQLInputValue[])).map((r) => ({ ...r }));
    statement.run(...(params as SQLInputValue[]));
    return [];
  } finally {
    db.close();
  }
}

storeContract('sqlite', {
  keyring,
  open: async (given) => openAt(join(dir, `db-${n++}`, 'rampart.db'), given),
  reopen: async (store, given) => openAt(pathOf.get(store)!, given),
  sql: async (store, sql, params) => rawSql(pathOf.get(store)!, sql, params),
  // The bytes of the database file and its WAL, as a copy of the data directory (or a backup of it) holds them.
  copy: async (store) => {
    const path = pathOf.get(store)!;
    return [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p).toString('latin1')).join('\n');
  },
  legacy: async () => {
    const path = join(dir, `legacy-${n++}`, 'rampart.db');
    mkdirSync(join(path, '..'), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec('PRAGMA journal_mode = WAL;');
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    db.exec(SQLITE_MIGRATIONS[0]!.sql);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, ?, 0)').run(SQLITE_MIGRATIONS[0]!.name);
    db.close();
    return {
      sql: async (sql, params) => void rawSql(path, sql, params),
      open: async (given) => openAt(path, given),
    };
  },
});

it('sqlite: uses WAL and records each migration once', () => {
  const path = join(dir, 'wal', 'rampart.db');
  const first = new SqliteStore({ path, keyring });
  const second = new SqliteStore({ path, keyring });
  assert.deepEqual(first.migrationVersions(), [1, 2, 3]);
  assert.deepEqual(second.migrationVersions(), [1, 2, 3]);
  void first.close();
  void second.close();
});

it('sqlite: there is no store without a keyring', () => {
  assert.throws(() => new SqliteStore({ path: join(dir, 'none', 'rampart.db') } as never), /no key-encryption keyring \(store\.encryption\)/);
  assert.equal(existsSync(join(dir, 'none', 'rampart.db')), false, 'nothing was created');
});
