import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, it } from 'node:test';
import pg from 'pg';
import { storeContract } from '../contract.case.ts';
import { PostgresStore } from './index.ts';

/** The PostgreSQL contract run: each store in its own random schema on 127.0.0.1:5432, all dropped after. */
export const PG_TEST_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const schemaOf = new Map<object, string>();

after(async () => {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

async function openFresh(): Promise<PostgresStore> {
  const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  const store = await PostgresStore.open({ url: PG_TEST_URL, schema });
  schemaOf.set(store, schema);
  return store;
}

storeContract('postgres', openFresh, async (store) => PostgresStore.open({ url: PG_TEST_URL, schema: schemaOf.get(store)! }));

it('postgres: concurrent opens of one schema migrate once', async () => {
  const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url: PG_TEST_URL, schema })));
  try {
    for (const store of stores) assert.deepEqual(await store.migrationVersions(), [1]);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

it('postgres: rejects an unsafe schema name', async () => {
  await assert.rejects(PostgresStore.open({ url: PG_TEST_URL, schema: 'x"; drop' }), /schema must match/);
});
