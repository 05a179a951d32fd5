import pg from 'pg';
import { checkConsumerInput, checkKeyPatch, checkLabels, checkMetadata, checkSignatureKeyInput, definedOnly, newConsumerId, newEventId, notifySinks, pageLimit } from '../common.ts';
import {
  StoreError,
  type AdminEvent,
  type ApiKeyRecord,
  type AuditSink,
  type Consumer,
  type ConsumerPatch,
  type KeyPatch,
  type ListOptions,
  type NewAdminEvent,
  type NewApiKey,
  type NewConsumer,
  type NewSignatureKey,
  type SignatureKeyRecord,
  type Store,
  type StoreChanges,
} from '../types.ts';
import { POSTGRES_MIGRATIONS } from './migrations.ts';
import { inTransaction } from './transaction.ts';
import { consumerFromRow, ENCRYPTED_COLUMNS, eventFromRow, keyFromRow, parsedJson, ROW_ID_COLUMN, signatureKeyFromRow, STORE_PURPOSES, type Row } from '../rows.ts';
import type { FieldCipher } from '../encryption/cipher.ts';
import { requireKeyring } from '../encryption/config.ts';
import { encryptExistingRows, openFieldCipher, rotateDataKeys, type KeySql, type RotationReport } from '../encryption/data-keys.ts';
import type { Keyring } from '../encryption/keyring.ts';

type Queryable = Pick<pg.PoolClient, 'query'>;

export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Lock id for migrations, so instances starting together migrate one at a time. */
const MIGRATION_LOCK = 0x72616d70;

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/db` (a password comes from a reference or PGPASSWORD, never a literal in config). */
  readonly url: string;
  /** Schema holding Rampart's tables (created if missing). Default `rampart`. */
  readonly schema?: string;
  /** Pool size; default 10. */
  readonly maxConnections?: number;
  /** Per-statement timeout in ms; default 5000. */
  readonly statementTimeoutMs?: number;
  readonly onSinkError?: (error: unknown) => void;
  /** KEKs wrapping the data keys (required: there is no store without one). */
  readonly keyring: Keyring;
}

const keySql = (client: Queryable): KeySql => ({
  all: async (sql, params = []) => (await client.query(sql, params as unknown[])).rows as Row[],
  run: async (sql, params = []) => (await client.query(sql, params as unknown[])).rowCount ?? 0,
});

/**
 * The scale-out store on PostgreSQL (`pg` pool). Every connection's `search_path` is the configured schema;
 * statements have a timeout; migrations run at open under an advisory lock, each recorded in `schema_migrations`.
 * Use `PostgresStore.open` (async), not the constructor.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #sinks: AuditSink[] = [];
  readonly #onSinkError: (error: unknown) => void;
  readonly #keyring: Keyring;
  #cipher!: FieldCipher;

  private constructor(pool: pg.Pool, schema: string, onSinkError: (error: unknown) => void, keyring: Keyring) {
    this.#pool = pool;
    this.schema = schema;
    this.#onSinkError = onSinkError;
    this.#keyring = keyring;
  }

  /**
   * Connects, creates the schema if needed, applies pending migrations and opens the data keys (creating the
   * missing ones and encrypting the rows an older version wrote in clear, in the migration transaction).
   * Throws on connection or migration failure, and KeyringError when a data key needs a KEK not configured.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const keyring = requireKeyring(options.keyring, 'PostgresStore');
    const schema = options.schema ?? 'rampart';
    if (!SCHEMA_NAME.test(schema)) throw new StoreError('invalid', `schema must match ${SCHEMA_NAME.source}`);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs ?? 5000,
      options: `-c search_path=${schema}`,
    });
    pool.on('error', () => undefined); // idle client errors: the next query reconnects
    const store = new PostgresStore(pool, schema, options.onSinkError ?? (() => undefined), keyring);
    try {
      await store.#migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  async #migrate(): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await client.query('SELECT version FROM schema_migrations')).rows.map((r: Row) => Number(r['version'])));
      for (const migration of POSTGRES_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
      }
      const sql = keySql(client);
      this.#cipher = await openFieldCipher(sql, 'data_keys', this.#keyring, STORE_PURPOSES, async (purpose, cipher) => {
        const table = purpose as keyof typeof ENCRYPTED_COLUMNS;
        await encryptExistingRows(sql, cipher, table, ROW_ID_COLUMN[table], ENCRYPTED_COLUMNS[table]);
      });
    });
  }

  async rotateKek(now = Date.now()): Promise<RotationReport> {
    return rotateDataKeys(keySql(this.#pool), 'data_keys', this.#keyring, now);
  }

  /** Applied migration versions, ascending. */
  async migrationVersions(): Promise<number[]> {
    return (await this.#pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r: Row) => Number(r['version']));
  }

  #transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, fn);
  }


  async createConsumer(input: NewConsumer, now = Date.now()): Promise<Consumer> {
    checkConsumerInput(input, true);
    const id = input.id ?? newConsumerId();
    try {
      const { rows } = await this.#pool.query(
        'INSERT INTO consumers (id, name, tenant, roles, groups, plan, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *',
        [
          id,
          this.#cipher.seal('consumers', id, 'name', input.name),
          input.tenant ?? null,
          JSON.stringify(input.roles ?? []),
          JSON.stringify(input.groups ?? []),
          input.plan ?? null,
          this.#cipher.sealJson('consumers', id, 'metadata', input.metadata ?? {}),
          now,
        ],
      );
      return consumerFromRow(rows[0] as Row, parsedJson, this.#cipher);
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new StoreError('conflict', `consumer ${id} already exists`, { cause: error });
      throw error;
    }
  }

  async getConsumer(id: string): Promise<Consumer | undefined> {
    const { rows } = await this.#pool.query('SELECT * FROM consumers WHERE id = $1', [id]);
    return rows[0] ? consumerFromRow(rows[0] as Row, parsedJson, this.#cipher) : undefined;
  }

  async listConsumers(options: ListOptions & { readonly tenant?: string } = {}): Promise<Consumer[]> {
    const { rows } = await this.#pool.query('SELECT * FROM consumers WHERE id COLLATE "C" > $1 AND ($2::text IS NULL OR tenant = $2) ORDER BY id COLLATE "C" LIMIT $3', [
      options.after ?? '',
      options.tenant ?? null,
      pageLimit(options.limit),
    ]);
    return rows.map((r: Row) => consumerFromRow(r, parsedJson, this.#cipher));
  }

  async updateConsumer(id: string, patch: ConsumerPatch, now = Date.now()): Promise<Consumer | undefined> {
    checkConsumerInput(patch, false);
    const current = await this.getConsumer(id);
    if (!current) return undefined;
    const next = { ...current, ...definedOnly(patch) };
    const { rows } = await this.#pool.query(
      'UPDATE consumers SET name = $2, tenant = $3, roles = $4, groups = $5, plan = $6, metadata = $7, updated_at = GREATEST(updated_at, $8) WHERE id = $1 RETURNING *',
      [
        id,
        this.#cipher.seal('consumers', id, 'name', next.name),
        next.tenant ?? null,
        JSON.stringify(next.roles),
        JSON.stringify(next.groups),
        next.plan ?? null,
        this.#cipher.sealJson('consumers', id, 'metadata', next.metadata),
        now,
      ],
    );
    return rows[0] ? consumerFromRow(rows[0] as Row, parsedJson, this.#cipher) : undefined;
  }

  async deleteConsumer(id: string, now = Date.now()): Promise<boolean> {
    return this.#transaction(async (client) => {
      await client.query('UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE consumer_id = $2 AND revoked_at IS NULL', [now, id]);
      await client.query('UPDATE signature_keys SET revoked_at = $1 WHERE consumer_id = $2 AND revoked_at IS NULL', [now, id]);
      const result = await client.query('DELETE FROM consumers WHERE id = $1', [id]);
      return (result.rowCount ?? 0) > 0;
    });
  }

  async insertApiKey(key: NewApiKey, now = Date.now()): Promise<ApiKeyRecord> {
    return this.#transaction((client) => insertKey(client, this.#cipher, key, now));
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const { rows } = await this.#pool.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows[0] ? keyFromRow(rows[0] as Row, parsedJson, this.#cipher) : undefined;
  }

  async listApiKeys(options: ListOptions & { readonly consumerId?: string } = {}): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#pool.query('SELECT * FROM api_keys WHERE id COLLATE "C" > $1 AND ($2::text IS NULL OR consumer_id = $2) ORDER BY id COLLATE "C" LIMIT $3', [
      options.after ?? '',
      options.consumerId ?? null,
      pageLimit(options.limit),
    ]);
    return rows.map((r: Row) => keyFromRow(r, parsedJson, this.#cipher));
  }

  async updateApiKey(id: string, patch: KeyPatch, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    checkKeyPatch(patch);
    return this.#transaction(async (client) => {
      const { rows } = await client.query('SELECT * FROM api_keys WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) return undefined;
      const current = keyFromRow(rows[0] as Row, parsedJson, this.#cipher);
      if (current.revokedAt !== null) throw new StoreError('conflict', `key ${id} is revoked`);
      const next = { ...current, ...definedOnly(patch) };
      const updated = await client.query(
        'UPDATE api_keys SET scopes = $2, plan = $3, metadata = $4, expires_at = $5, updated_at = GREATEST(updated_at, $6) WHERE id = $1 RETURNING *',
        [id, JSON.stringify(next.scopes), next.plan, this.#cipher.sealJson('api_keys', id, 'metadata', next.metadata), next.expiresAt, now],
      );
      return keyFromRow(updated.rows[0] as Row, parsedJson, this.#cipher);
    });
  }

  async revokeApiKey(id: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    await this.#pool.query('UPDATE api_keys SET revoked_at = $1, updated_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
    return this.getApiKey(id);
  }

  async rotateApiKey(oldId: string, successor: NewApiKey, graceUntil: number, now = Date.now()): Promise<{ old: ApiKeyRecord; successor: ApiKeyRecord }> {
    return this.#transaction(async (client) => {
      const { rows } = await client.query('SELECT revoked_at, replaced_by FROM api_keys WHERE id = $1 FOR UPDATE', [oldId]);
      const row = rows[0] as Row | undefined;
      if (!row) throw new StoreError('not_found', `key ${oldId} does not exist`);
      if (row['revoked_at'] !== null || row['replaced_by'] !== null) throw new StoreError('conflict', `key ${oldId} is revoked or already rotated`);
      const inserted = await insertKey(client, this.#cipher, successor, now);
      const updated = await client.query('UPDATE api_keys SET replaced_by = $2, grace_until = $3, updated_at = $4 WHERE id = $1 RETURNING *', [oldId, successor.id, graceUntil, now]);
      return { old: keyFromRow(updated.rows[0] as Row, parsedJson, this.#cipher), successor: inserted };
    });
  }

  async touchApiKeys(entries: ReadonlyMap<string, number>): Promise<void> {
    if (entries.size === 0) return;
    const ids = [...entries.keys()];
    const times = ids.map((id) => entries.get(id)!);
    await this.#pool.query(
      'UPDATE api_keys AS k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), t.at) FROM unnest($1::text[], $2::bigint[]) AS t(id, at) WHERE k.id = t.id',
      [ids, times],
    );
  }

  async createSignatureKey(key: NewSignatureKey, now = Date.now()): Promise<SignatureKeyRecord> {
    checkSignatureKeyInput(key);
    return this.#transaction(async (client) => {
      // FOR SHARE: a consumer deleted concurrently cannot leave a live key behind.
      const exists = await client.query('SELECT 1 FROM consumers WHERE id = $1 FOR SHARE', [key.consumerId]);
      if (exists.rowCount === 0) throw new StoreError('not_found', `consumer ${key.consumerId} does not exist`);
      try {
        const { rows } = await client.query(
          'INSERT INTO signature_keys (keyid, consumer_id, algorithm, public_key, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
          [key.keyid, key.consumerId, key.algorithm, key.publicKey, this.#cipher.sealJson('signature_keys', key.keyid, 'secret', key.secret), now],
        );
        return signatureKeyFromRow(rows[0] as Row, this.#cipher);
      } catch (error) {
        if ((error as { code?: string }).code === '23505') throw new StoreError('conflict', `signature key ${key.keyid} already exists`, { cause: error, field: 'keyid' });
        throw error;
      }
    });
  }

  async getSignatureKey(keyid: string): Promise<SignatureKeyRecord | undefined> {
    const { rows } = await this.#pool.query('SELECT * FROM signature_keys WHERE keyid = $1', [keyid]);
    return rows[0] ? signatureKeyFromRow(rows[0] as Row, this.#cipher) : undefined;
  }

  async listSignatureKeys(options: ListOptions & { readonly consumerId?: string } = {}): Promise<SignatureKeyRecord[]> {
    const { rows } = await this.#pool.query(
      'SELECT * FROM signature_keys WHERE keyid COLLATE "C" > $1 AND ($2::text IS NULL OR consumer_id = $2) ORDER BY keyid COLLATE "C" LIMIT $3',
      [options.after ?? '', options.consumerId ?? null, pageLimit(options.limit)],
    );
    return rows.map((r: Row) => signatureKeyFromRow(r, this.#cipher));
  }

  async revokeSignatureKey(keyid: string, now = Date.now()): Promise<SignatureKeyRecord | undefined> {
    const { rows } = await this.#pool.query('UPDATE signature_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE keyid = $2 RETURNING *', [now, keyid]);
    return rows[0] ? signatureKeyFromRow(rows[0] as Row, this.#cipher) : undefined;
  }

  async changesSince(since: number): Promise<StoreChanges> {
    const keys = await this.#pool.query('SELECT id FROM api_keys WHERE updated_at >= $1 LIMIT 10000', [since]);
    const consumers = await this.#pool.query('SELECT id FROM consumers WHERE updated_at >= $1 LIMIT 10000', [since]);
    return { keyIds: keys.rows.map((r: Row) => String(r['id'])), consumerIds: consumers.rows.map((r: Row) => String(r['id'])) };
  }

  async recordAdminEvent(input: NewAdminEvent): Promise<AdminEvent> {
    const id = newEventId();
    const { rows } = await this.#pool.query(
      'INSERT INTO admin_events (id, at, actor, action, target_type, target_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *',
      [id, input.at ?? Date.now(), input.actor, input.action, input.targetType, input.targetId, this.#cipher.sealJson('admin_events', id, 'details', input.details)],
    );
    const event = eventFromRow(rows[0] as Row, this.#cipher);
    await notifySinks(this.#sinks, event, this.#onSinkError);
    return event;
  }

  async listAdminEvents(options: { readonly limit?: number; readonly beforeSeq?: number } = {}): Promise<AdminEvent[]> {
    const { rows } = await this.#pool.query('SELECT * FROM admin_events WHERE seq < $1 ORDER BY seq DESC LIMIT $2', [
      options.beforeSeq ?? Number.MAX_SAFE_INTEGER,
      pageLimit(options.limit),
    ]);
    return rows.map((r: Row) => eventFromRow(r, this.#cipher));
  }

  addAuditSink(sink: AuditSink): void {
    this.#sinks.push(sink);
  }

  /** Every row of every table in the schema (tests: prove no key material is stored). */
  async dumpTables(): Promise<Record<string, Row[]>> {
    const { rows } = await this.#pool.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [this.schema]);
    const out: Record<string, Row[]> = {};
    for (const r of rows as Row[]) {
      const table = String(r['table_name']);
      out[table] = (await this.#pool.query(`SELECT * FROM "${this.schema}"."${table.replace(/"/g, '')}"`)).rows as Row[];
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}

async function insertKey(client: Queryable, cipher: FieldCipher, key: NewApiKey, now: number): Promise<ApiKeyRecord> {
  checkLabels(key.scopes, 'scopes');
  checkMetadata(key.metadata);
  const exists = await client.query('SELECT 1 FROM consumers WHERE id = $1', [key.consumerId]);
  if (exists.rowCount === 0) throw new StoreError('not_found', `consumer ${key.consumerId} does not exist`);
  try {
    const { rows } = await client.query(
      'INSERT INTO api_keys (id, prefix, consumer_id, key_hash, scopes, expires_at, plan, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *',
      [key.id, key.prefix, key.consumerId, key.keyHash, JSON.stringify(key.scopes), key.expiresAt, key.plan, cipher.sealJson('api_keys', key.id, 'metadata', key.metadata), key.createdAt, now],
    );
    return keyFromRow(rows[0] as Row, parsedJson, cipher);
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new StoreError('conflict', `key ${key.id} already exists`, { cause: error });
    throw error;
  }
}
