import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
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
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { consumerFromRow, ENCRYPTED_COLUMNS, eventFromRow, jsonText, keyFromRow, ROW_ID_COLUMN, signatureKeyFromRow, STORE_PURPOSES } from '../rows.ts';
import { dataKeyRow, FieldCipher, newDataKey } from '../encryption/cipher.ts';
import { requireKeyring } from '../encryption/config.ts';
import { insertDataKeySql, insertParams, rotateDataKeys, sealedRow, selectDataKeysSql, upgradeSql, type KeySql, type RotationReport } from '../encryption/data-keys.ts';
import type { Keyring } from '../encryption/keyring.ts';

type Row = Record<string, SQLInputValue>;

export interface SqliteStoreOptions {
  /** Database file (created with its directory), or `:memory:`. */
  readonly path: string;
  /** Called when an audit sink throws. */
  readonly onSinkError?: (error: unknown) => void;
  /** KEKs wrapping the data keys (required: there is no store without one). */
  readonly keyring: Keyring;
}

/**
 * The embedded store on `node:sqlite`: WAL journal (readers never block the writer), foreign keys on, a 5 s busy
 * timeout so the CLI and a running gateway can share the file. Migrations run at open, each in a transaction,
 * recorded in `schema_migrations` (idempotent: reopening applies nothing twice). Personal fields are encrypted
 * (`ENCRYPTED_COLUMNS`, docs/encryption-at-rest.md); `secure_delete` zeroes what an update or delete frees, so an
 * old plaintext does not linger in free pages.
 * @throws KeyringError at open when a stored data key needs a KEK that is not configured.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #sinks: AuditSink[] = [];
  readonly #onSinkError: (error: unknown) => void;
  readonly #keyring: Keyring;
  readonly #cipher: FieldCipher;

  constructor(options: SqliteStoreOptions) {
    this.#keyring = requireKeyring(options.keyring, 'SqliteStore');
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    // The busy timeout is set at open: switching to WAL needs a lock another process may hold while it starts too.
    this.#db = new DatabaseSync(options.path, { timeout: 5000 });
    this.#onSinkError = options.onSinkError ?? (() => undefined);
    this.#db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;');
    try {
      this.#cipher = this.#migrate();
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /** Applies pending migrations and opens the data keys, in one transaction. */
  #migrate(): FieldCipher {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    let upgraded = 0;
    const cipher = this.#transaction(() => {
      const applied = new Set(this.#db.prepare('SELECT version FROM schema_migrations').all().map((r) => Number(r['version'])));
      for (const migration of SQLITE_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        this.#db.exec(migration.sql);
        this.#db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
      }
      const opened = FieldCipher.fromRows(this.#db.prepare(selectDataKeysSql('data_keys')).all().map(dataKeyRow), this.#keyring);
      for (const purpose of STORE_PURPOSES) {
        if (opened.has(purpose)) continue;
        // A table gets its data key once, and its rows written in clear by an older version are encrypted with it
        // in this same transaction.
        const { row, key } = newDataKey(this.#keyring, purpose, Date.now());
        this.#db.prepare(toSqlite(insertDataKeySql('data_keys'))).run(...(insertParams(row) as SQLInputValue[]));
        opened.add(row, key);
        const columns = ENCRYPTED_COLUMNS[purpose];
        const idColumn = ROW_ID_COLUMN[purpose];
        const { select, update } = upgradeSql(purpose, idColumn, columns);
        const statement = this.#db.prepare(toSqlite(update));
        for (const existing of this.#db.prepare(select).all()) {
          statement.run(...(sealedRow(opened, purpose, idColumn, columns, existing) as SQLInputValue[]));
          upgraded++;
        }
      }
      return opened;
    });
    // The upgrade rewrote rows held in clear: move the new pages into the database file, then rebuild it. An older
    // version freed pages without zeroing them (deleted consumers, earlier values): secure_delete only zeroes what
    // is freed from now on, so only VACUUM leaves the file with no plaintext copy.
    if (upgraded > 0) this.#db.exec('PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);');
    return cipher;
  }

  /** Applied migration versions, ascending. */
  migrationVersions(): number[] {
    return this.#db.prepare('SELECT version FROM schema_migrations ORDER BY version').all().map((r) => Number(r['version']));
  }

  #transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async createConsumer(input: NewConsumer, now = Date.now()): Promise<Consumer> {
    checkConsumerInput(input, true);
    const id = input.id ?? newConsumerId();
    try {
      this.#db
        .prepare('INSERT INTO consumers (id, name, tenant, roles, groups, plan, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(
          id,
          this.#cipher.seal('consumers', id, 'name', input.name),
          input.tenant ?? null,
          JSON.stringify(input.roles ?? []),
          JSON.stringify(input.groups ?? []),
          input.plan ?? null,
          this.#cipher.sealJson('consumers', id, 'metadata', input.metadata ?? {}),
          now,
          now,
        );
    } catch (error) {
      if (isUniqueViolation(error)) throw new StoreError('conflict', `consumer ${id} already exists`, { cause: error });
      throw error;
    }
    return (await this.getConsumer(id))!;
  }

  async getConsumer(id: string): Promise<Consumer | undefined> {
    const row = this.#db.prepare('SELECT * FROM consumers WHERE id = ?').get(id);
    return row ? consumerFromRow(row, jsonText, this.#cipher) : undefined;
  }

  async listConsumers(options: ListOptions & { readonly tenant?: string } = {}): Promise<Consumer[]> {
    const rows = this.#db
      .prepare('SELECT * FROM consumers WHERE id > ? AND (? IS NULL OR tenant = ?) ORDER BY id LIMIT ?')
      .all(options.after ?? '', options.tenant ?? null, options.tenant ?? null, pageLimit(options.limit));
    return rows.map((r) => consumerFromRow(r, jsonText, this.#cipher));
  }

  async updateConsumer(id: string, patch: ConsumerPatch, now = Date.now()): Promise<Consumer | undefined> {
    checkConsumerInput(patch, false);
    const current = await this.getConsumer(id);
    if (!current) return undefined;
    const next = { ...current, ...definedOnly(patch) };
    this.#db
      .prepare('UPDATE consumers SET name = ?, tenant = ?, roles = ?, groups = ?, plan = ?, metadata = ?, updated_at = ? WHERE id = ?')
      .run(
        this.#cipher.seal('consumers', id, 'name', next.name),
        next.tenant ?? null,
        JSON.stringify(next.roles),
        JSON.stringify(next.groups),
        next.plan ?? null,
        this.#cipher.sealJson('consumers', id, 'metadata', next.metadata),
        Math.max(now, current.updatedAt),
        id,
      );
    return this.getConsumer(id);
  }

  async deleteConsumer(id: string, now = Date.now()): Promise<boolean> {
    return this.#transaction(() => {
      this.#db.prepare('UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE consumer_id = ? AND revoked_at IS NULL').run(now, now, id);
      this.#db.prepare('UPDATE signature_keys SET revoked_at = ? WHERE consumer_id = ? AND revoked_at IS NULL').run(now, id);
      return Number(this.#db.prepare('DELETE FROM consumers WHERE id = ?').run(id).changes) > 0;
    });
  }

  async insertApiKey(key: NewApiKey, now = Date.now()): Promise<ApiKeyRecord> {
    this.#transaction(() => this.#insertKey(key, now));
    return (await this.getApiKey(key.id))!;
  }

  #insertKey(key: NewApiKey, now: number): void {
    checkLabels(key.scopes, 'scopes');
    checkMetadata(key.metadata);
    if (!this.#db.prepare('SELECT 1 FROM consumers WHERE id = ?').get(key.consumerId)) throw new StoreError('not_found', `consumer ${key.consumerId} does not exist`);
    try {
      this.#db
        .prepare('INSERT INTO api_keys (id, prefix, consumer_id, key_hash, scopes, expires_at, plan, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(key.id, key.prefix, key.consumerId, key.keyHash, JSON.stringify(key.scopes), key.expiresAt, key.plan, this.#cipher.sealJson('api_keys', key.id, 'metadata', key.metadata), key.createdAt, now);
    } catch (error) {
      if (isUniqueViolation(error)) throw new StoreError('conflict', `key ${key.id} already exists`, { cause: error });
      throw error;
    }
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? keyFromRow(row, jsonText, this.#cipher) : undefined;
  }

  async listApiKeys(options: ListOptions & { readonly consumerId?: string } = {}): Promise<ApiKeyRecord[]> {
    const rows = this.#db
      .prepare('SELECT * FROM api_keys WHERE id > ? AND (? IS NULL OR consumer_id = ?) ORDER BY id LIMIT ?')
      .all(options.after ?? '', options.consumerId ?? null, options.consumerId ?? null, pageLimit(options.limit));
    return rows.map((r) => keyFromRow(r, jsonText, this.#cipher));
  }

  async updateApiKey(id: string, patch: KeyPatch, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    checkKeyPatch(patch);
    const found = this.#transaction(() => {
      const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id);
      if (!row) return false;
      const current = keyFromRow(row, jsonText, this.#cipher);
      if (current.revokedAt !== null) throw new StoreError('conflict', `key ${id} is revoked`);
      const next = { ...current, ...definedOnly(patch) };
      this.#db
        .prepare('UPDATE api_keys SET scopes = ?, plan = ?, metadata = ?, expires_at = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify(next.scopes), next.plan, this.#cipher.sealJson('api_keys', id, 'metadata', next.metadata), next.expiresAt, Math.max(now, current.updatedAt), id);
      return true;
    });
    return found ? this.getApiKey(id) : undefined;
  }

  async revokeApiKey(id: string, now = Date.now()): Promise<ApiKeyRecord | undefined> {
    this.#db.prepare('UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, now, id);
    return this.getApiKey(id);
  }

  async rotateApiKey(oldId: string, successor: NewApiKey, graceUntil: number, now = Date.now()): Promise<{ old: ApiKeyRecord; successor: ApiKeyRecord }> {
    this.#transaction(() => {
      const row = this.#db.prepare('SELECT revoked_at, replaced_by FROM api_keys WHERE id = ?').get(oldId);
      if (!row) throw new StoreError('not_found', `key ${oldId} does not exist`);
      if (row['revoked_at'] !== null || row['replaced_by'] !== null) throw new StoreError('conflict', `key ${oldId} is revoked or already rotated`);
      this.#insertKey(successor, now);
      this.#db.prepare('UPDATE api_keys SET replaced_by = ?, grace_until = ?, updated_at = ? WHERE id = ?').run(successor.id, graceUntil, now, oldId);
    });
    return { old: (await this.getApiKey(oldId))!, successor: (await this.getApiKey(successor.id))! };
  }

  async touchApiKeys(entries: ReadonlyMap<string, number>): Promise<void> {
    if (entries.size === 0) return;
    const statement = this.#db.prepare('UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?');
    this.#transaction(() => {
      for (const [id, at] of entries) statement.run(at, id);
    });
  }

  async createSignatureKey(key: NewSignatureKey, now = Date.now()): Promise<SignatureKeyRecord> {
    checkSignatureKeyInput(key);
    this.#transaction(() => {
      if (!this.#db.prepare('SELECT 1 FROM consumers WHERE id = ?').get(key.consumerId)) throw new StoreError('not_found', `consumer ${key.consumerId} does not exist`);
      try {
        this.#db
          .prepare('INSERT INTO signature_keys (keyid, consumer_id, algorithm, public_key, secret, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(key.keyid, key.consumerId, key.algorithm, key.publicKey, this.#cipher.sealJson('signature_keys', key.keyid, 'secret', key.secret), now);
      } catch (error) {
        if (isUniqueViolation(error)) throw new StoreError('conflict', `signature key ${key.keyid} already exists`, { cause: error, field: 'keyid' });
        throw error;
      }
    });
    return (await this.getSignatureKey(key.keyid))!;
  }

  async getSignatureKey(keyid: string): Promise<SignatureKeyRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM signature_keys WHERE keyid = ?').get(keyid);
    return row ? signatureKeyFromRow(row, this.#cipher) : undefined;
  }

  async listSignatureKeys(options: ListOptions & { readonly consumerId?: string } = {}): Promise<SignatureKeyRecord[]> {
    const rows = this.#db
      .prepare('SELECT * FROM signature_keys WHERE keyid > ? AND (? IS NULL OR consumer_id = ?) ORDER BY keyid LIMIT ?')
      .all(options.after ?? '', options.consumerId ?? null, options.consumerId ?? null, pageLimit(options.limit));
    return rows.map((r) => signatureKeyFromRow(r, this.#cipher));
  }

  async revokeSignatureKey(keyid: string, now = Date.now()): Promise<SignatureKeyRecord | undefined> {
    this.#db.prepare('UPDATE signature_keys SET revoked_at = ? WHERE keyid = ? AND revoked_at IS NULL').run(now, keyid);
    return this.getSignatureKey(keyid);
  }

  async changesSince(since: number): Promise<StoreChanges> {
    const keyIds = this.#db.prepare('SELECT id FROM api_keys WHERE updated_at >= ? LIMIT 10000').all(since).map((r) => String(r['id']));
    const consumerIds = this.#db.prepare('SELECT id FROM consumers WHERE updated_at >= ? LIMIT 10000').all(since).map((r) => String(r['id']));
    return { keyIds, consumerIds };
  }

  async recordAdminEvent(input: NewAdminEvent): Promise<AdminEvent> {
    const id = newEventId();
    const at = input.at ?? Date.now();
    const result = this.#db
      .prepare('INSERT INTO admin_events (id, at, actor, action, target_type, target_id, details) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, at, input.actor, input.action, input.targetType, input.targetId, this.#cipher.sealJson('admin_events', id, 'details', input.details));
    const event: AdminEvent = { seq: Number(result.lastInsertRowid), id, at, actor: input.actor, action: input.action, targetType: input.targetType, targetId: input.targetId, details: input.details };
    await notifySinks(this.#sinks, event, this.#onSinkError);
    return event;
  }

  async listAdminEvents(options: { readonly limit?: number; readonly beforeSeq?: number } = {}): Promise<AdminEvent[]> {
    const rows = this.#db
      .prepare('SELECT * FROM admin_events WHERE seq < ? ORDER BY seq DESC LIMIT ?')
      .all(options.beforeSeq ?? Number.MAX_SAFE_INTEGER, pageLimit(options.limit));
    return rows.map((r) => eventFromRow(r, this.#cipher));
  }

  addAuditSink(sink: AuditSink): void {
    this.#sinks.push(sink);
  }

  async rotateKek(now = Date.now()): Promise<RotationReport> {
    return rotateDataKeys(this.#keySql(), 'data_keys', this.#keyring, now);
  }

  /** The data-key table through the `$n` SQL surface the shared key functions use. */
  #keySql(): KeySql {
    return {
      all: async (sql, params = []) => this.#db.prepare(toSqlite(sql)).all(...(params as SQLInputValue[])),
      run: async (sql, params = []) => Number(this.#db.prepare(toSqlite(sql)).run(...(params as SQLInputValue[])).changes),
    };
  }

  /** Every row of every table (tests: prove no key material is stored). */
  dumpTables(): Record<string, Row[]> {
    const tables = this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => String(r['name']));
    return Object.fromEntries(tables.map((t) => [t, this.#db.prepare(`SELECT * FROM "${t.replace(/"/g, '')}"`).all() as Row[]]));
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

const toSqlite = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

function isUniqueViolation(error: unknown): boolean {
  return /UNIQUE constraint failed|PRIMARY KEY/.test((error as Error)?.message ?? '');
}

