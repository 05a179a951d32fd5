import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { storeContract } from '../contract.case.ts';
import { SqliteStore } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeContract(
  'sqlite',
  async () => new SqliteStore({ path: join(dir, `db-${n++}`, 'rampart.db') }),
  async (store) => {
    const path = join(dir, `db-${n - 1}`, 'rampart.db');
    void store;
    return new SqliteStore({ path });
  },
);

it('sqlite: uses WAL and records each migration once', () => {
  const path = join(dir, 'wal', 'rampart.db');
  const first = new SqliteStore({ path });
  const second = new SqliteStore({ path });
  assert.deepEqual(first.migrationVersions(), [1]);
  assert.deepEqual(second.migrationVersions(), [1]);
  void first.close();
  void second.close();
});
