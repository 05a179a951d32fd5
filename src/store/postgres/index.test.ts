import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { storeContract, testKeyring } from '../contract.case.ts';
import type { Store } from '../types.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { PostgresStore } from './index.ts';

/** The PostgreSQL contract run: each store in its own random schema on 127.0.0.1:5432, all dropped after. */
export const PG_TEST_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const schemaOf = new Map<Store, string>();
const keyring = testKeyring();

after(async () => {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

const newSchema = () => {
  const schema = `rampart_test_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
};

async function openIn(schema: string, given = keyring): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url: PG_TEST_URL, schema, keyring: given });
  schemaOf.set(store, schema);
  return store;
}

async function rawSql(schema: string, sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return (await client.query(sql, params as unknown[])).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/**
 * What a dump of the schema yields: pg_dump's output (schema and data) when the client is installed, and in any
 * case every column of every table of the schema, read as text.
 */
async function dump(schema: string): Promise<string> {
  const parts: string[] = [];
  try {
    const { stdout } = await promisify(execFile)('pg_dump', ['--no-owner', '--schema', schema, PG_TEST_URL], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
    assert.ok(stdout.includes(`CREATE TABLE ${schema}.consumers`), 'pg_dump dumped the schema');
    parts.push(stdout);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tables = await rawSql(schema, 'SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
  for (const { table_name: table } of tables) {
    const columns = await rawSql(schema, 'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [schema, table]);
    const select = columns.map((c) => `"${String(c['column_name'])}"::text`).join(', ');
    parts.push(JSON.stringify(await rawSql(schema, `SELECT ${select} FROM "${String(table)}"`)));
  }
  return parts.join('\n');
}

storeContract('postgres', {
  keyring,
  open: async (given) => openIn(newSchema(), given),
  reopen: async (store, given) => openIn(schemaOf.get(store)!, given),
  sql: async (store, sql, params) => rawSql(schemaOf.get(store)!, sql, params),
  copy: async (store) => dump(schemaOf.get(store)!),
  legacy: async () => {
    const schema = newSchema();
    await rawSql('public', `CREATE SCHEMA "${schema}"`);
    await rawSql(schema, 'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    await rawSql(schema, POSTGRES_MIGRATIONS[0]!.sql);
    await rawSql(schema, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, $1, 0)', [POSTGRES_MIGRATIONS[0]!.name]);
    return {
      sql: async (sql, params) => void (await rawSql(schema, sql, params)),
      open: async (given) => openIn(schema, given),
    };
  },
});

it('postgres: concurrent opens of one schema migrate once and share one data key per table', async () => {
  const schema = newSchema();
  const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.open({ url: PG_TEST_URL, schema, keyring })));
  try {
    for (const store of stores) assert.deepEqual(await store.migrationVersions(), [1, 2, 3]);
    assert.equal((await rawSql(schema, 'SELECT id FROM data_keys')).length, 4);
    await stores[0]!.createConsumer({ id: 'a', name: 'Written by one' });
    assert.equal((await stores[2]!.getConsumer('a'))?.name, 'Written by one', 'read by another');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

it('postgres: rejects an unsafe schema name', async () => {
  await assert.rejects(PostgresStore.open({ url: PG_TEST_URL, schema: 'x"; drop', keyring }), /schema must match/);
});

it('postgres: there is no store without a keyring', async () => {
  await assert.rejects(PostgresStore.open({ url: PG_TEST_URL, schema: newSchema() } as never), /no key-encryption keyring \(store\.encryption\)/);
});
