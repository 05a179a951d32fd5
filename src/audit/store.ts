import { linkRecords, type AuditRecord } from './chain.ts';
import type { Db, Row } from './db.ts';
import { signCheckpoint, verifyCheckpoint, type SigningKey } from './signing.ts';

/**
 * A signed checkpoint: the hash of record `seq`, signed with Rampart's Ed25519 key. `keyed_from` (v2) is the seq
 * from which every record carries a MAC; absent on v1 checkpoints written before record MACs.
 */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly key_id: string;
  readonly signature: string;
  readonly keyed_from?: number;
}

/** An entry waiting to be appended (seq and hashes are assigned inside the write transaction). */
export interface PendingEntry {
  readonly time: string;
  readonly type: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface AuditSearch {
  readonly type?: string;
  /** Substring matched against the canonical fields text (e.g. a request id or a key id). */
  readonly text?: string;
  readonly since?: string;
  readonly until?: string;
  readonly limit?: number;
  /** Only records with a lower seq (paging newest first). */
  readonly beforeSeq?: number;
  /** Only records with a higher seq (paging oldest first). */
  readonly afterSeq?: number;
  /** Newest first (default oldest first). */
  readonly newestFirst?: boolean;
}

export interface AuditStoreOptions {
  /** A signed checkpoint every N records (default 1000). */
  readonly checkpointEvery?: number;
  /** Called after each committed append with the new chain tail and the number of records added. Must not throw. */
  readonly onAppended?: (tail: { readonly seq: number; readonly hash: string }, count: number) => void;
}

/** The audit tables exist in the migration log but are gone or altered: the store was tampered with. */
export class AuditStoreDamaged extends Error {}

/** Record type appended (in the same transaction) by retention, naming the last seq it deleted. */
export const PRUNED_TYPE = 'audit.pruned';

/** Advisory lock key so concurrent PostgreSQL writers (several gateway instances) extend one chain in turn. */
export const CHAIN_LOCK = 0x52_41_4d_50;

/**
 * Versioned audit migrations, the same SQL on SQLite and PostgreSQL. Append only: never edit a released one.
 * v1 is the original schema (`IF NOT EXISTS`: databases from before the migration log pass through it). v2 starts
 * the keyed segment: records from `keyed_from` (the next seq at migration time) on carry a MAC; older records stay
 * verifiable by their SHA-256 chain and v1 checkpoints.
 */
const MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'hash-chained records, signed checkpoints',
    sql: `
CREATE TABLE IF NOT EXISTS audit_records (
  seq BIGINT PRIMARY KEY,
  time TEXT NOT NULL,
  type TEXT NOT NULL,
  fields TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
  seq BIGINT PRIMARY KEY,
  hash TEXT NOT NULL,
  time TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);`,
  },
  {
    version: 2,
    name: 'keyed records (MAC), v2 checkpoints with keyed_from',
    sql: `
ALTER TABLE audit_records ADD COLUMN mac TEXT;
ALTER TABLE audit_checkpoints ADD COLUMN keyed_from BIGINT;
CREATE TABLE audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO audit_meta (name, value) SELECT 'keyed_from', CAST(COALESCE(MAX(seq), 0) + 1 AS TEXT) FROM audit_records;`,
  },
];

const RECORD_COLUMNS = 'seq, time, type, fields, prev_hash, hash, mac';

/**
 * The audit table on SQLite or PostgreSQL (same SQL, same contract). Append-only: the only delete is retention,
 * which removes whole prefixes of the chain up to a signed checkpoint, and records that it did in the chain.
 */
export class AuditStore {
  readonly db: Db;
  readonly #key: SigningKey | undefined;
  readonly #checkpointEvery: number;
  readonly #onAppended: AuditStoreOptions['onAppended'];
  #keyedFrom = 1;

  /**
   * @param key signs checkpoints and MACs records (absent, or public only: read-only use such as `audit verify`).
   * @param options checkpoint interval (default every 1000 records) and the commit hook.
   */
  constructor(db: Db, key: SigningKey | undefined, options: AuditStoreOptions | number = {}) {
    this.db = db;
    this.#key = key;
    const opts = typeof options === 'number' ? { checkpointEvery: options } : options;
    this.#checkpointEvery = opts.checkpointEvery ?? 1000;
    this.#onAppended = opts.onAppended;
  }

  /**
   * The seq from which every record carries a MAC, as this writer signs it: the migration's value, lowered by the
   * newest valid signed checkpoint (a database edit cannot move it later).
   */
  get keyedFrom(): number {
    return this.#keyedFrom;
  }

  /** Lowers `keyedFrom` to a value from a signed anchor kept outside the database (the head file). */
  lowerKeyedFrom(seq: number): void {
    if (Number.isSafeInteger(seq) && seq >= 1) this.#keyedFrom = Math.min(this.#keyedFrom, seq);
  }

  /**
   * Applies pending migrations (in one transaction, under the chain lock) and reads `keyed_from`.
   * @throws AuditStoreDamaged when the migration log says the tables exist but they are gone or altered.
   */
  async init(): Promise<void> {
    await this.db.tx(async (db) => {
      // Under the lock: two PostgreSQL instances starting together would race on CREATE TABLE IF NOT EXISTS.
      await db.exec('CREATE TABLE IF NOT EXISTS audit_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      const applied = new Set((await db.all('SELECT version FROM audit_migrations')).map((r) => Number(r['version'])));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await db.exec(migration.sql);
        await db.run('INSERT INTO audit_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
      }
    }, CHAIN_LOCK);
    let meta: Row[];
    try {
      await this.db.all(`SELECT ${RECORD_COLUMNS} FROM audit_records WHERE 1 = 0`);
      await this.db.all('SELECT seq, hash, time, key_id, signature, keyed_from FROM audit_checkpoints WHERE 1 = 0');
      meta = await this.db.all("SELECT value FROM audit_meta WHERE name = 'keyed_from'");
    } catch (error) {
      throw new AuditStoreDamaged('the audit tables are missing or altered (dropped outside Rampart?)', { cause: error });
    }
    // A missing row gives the strictest value: every record must carry a MAC.
    const fromMeta = Number(meta[0]?.['value'] ?? 1);
    this.#keyedFrom = Number.isSafeInteger(fromMeta) && fromMeta >= 1 ? fromMeta : 1;
    if (this.#key) {
      const rows = await this.db.all('SELECT seq, hash, time, key_id, signature, keyed_from FROM audit_checkpoints WHERE keyed_from IS NOT NULL ORDER BY seq DESC LIMIT 1');
      const cp = rows[0] ? toCheckpoint(rows[0]) : undefined;
      if (cp?.keyed_from !== undefined && cp.key_id === this.#key.keyId && verifyCheckpoint(this.#key, cp.seq, cp.hash, cp.time, cp.signature, cp.keyed_from)) {
        this.lowerKeyedFrom(cp.keyed_from);
      }
    }
  }

  /**
   * Appends entries in one transaction: reads the chain tail, links and MACs the entries, inserts them and any
   * checkpoint that falls due. Durable when it resolves (SQLite synchronous=FULL; PostgreSQL commit).
   * @throws Error when the store has no private key (a reader cannot extend the chain).
   */
  async append(entries: readonly PendingEntry[]): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    const records = await this.db.tx((db) => this.#appendIn(db, entries), CHAIN_LOCK);
    this.#notify(records);
    return records;
  }

  async #appendIn(db: Db, entries: readonly PendingEntry[], knownTail?: { seq: number; hash: string }): Promise<AuditRecord[]> {
    const key = this.#key;
    if (!key?.privateKey || !key.macKey) throw new Error('the audit store was opened without the private signing key');
    const tail = knownTail ?? (await chainTail(db));
    const { records, fieldsJson } = linkRecords(tail, entries, key.macKey);
    for (let i = 0; i < records.length; i += 200) {
      const chunk = records.slice(i, i + 200);
      const params: unknown[] = [];
      const values = chunk.map((r, j) => {
        params.push(r.seq, r.time, r.type, fieldsJson[i + j], r.prev_hash, r.hash, r.mac);
        const b = j * 7;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7})`;
      });
      await db.run(`INSERT INTO audit_records (${RECORD_COLUMNS}) VALUES ${values.join(', ')}`, params);
    }
    for (const r of records) {
      if (r.seq % this.#checkpointEvery !== 0) continue;
      const signature = signCheckpoint(key, r.seq, r.hash, r.time, this.#keyedFrom);
      await db.run('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature, keyed_from) VALUES ($1, $2, $3, $4, $5, $6)', [
        r.seq,
        r.hash,
        r.time,
        key.keyId,
        signature,
        this.#keyedFrom,
      ]);
    }
    return records;
  }

  #notify(records: readonly AuditRecord[]): void {
    const last = records.at(-1);
    if (!last || !this.#onAppended) return;
    try {
      this.#onAppended({ seq: last.seq, hash: last.hash }, records.length);
    } catch {
      // the hook is an observer (head publisher); it never fails a committed append
    }
  }

  /** Records with seq > `afterSeq`, ascending, at most `limit`. */
  async page(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all(`SELECT ${RECORD_COLUMNS} FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
    return rows.map(toRecord);
  }

  /** The newest `limit` records, ascending. */
  async tail(limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all(`SELECT ${RECORD_COLUMNS} FROM audit_records ORDER BY seq DESC LIMIT $1`, [limit]);
    return rows.map(toRecord).reverse();
  }

  /** Records matching a filter, ascending by seq (default limit 1000). */
  async search(filter: AuditSearch): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.type) where.push(`type = $${params.push(filter.type)}`);
    if (filter.since) where.push(`time >= $${params.push(filter.since)}`);
    if (filter.until) where.push(`time <= $${params.push(filter.until)}`);
    if (filter.text) where.push(`fields LIKE $${params.push(`%${filter.text.replace(/[%_\\]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'`);
    if (filter.beforeSeq !== undefined) where.push(`seq < $${params.push(filter.beforeSeq)}`);
    if (filter.afterSeq !== undefined) where.push(`seq > $${params.push(filter.afterSeq)}`);
    const sql = `SELECT ${RECORD_COLUMNS} FROM audit_records${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${filter.newestFirst ? ' DESC' : ''} LIMIT $${params.push(filter.limit ?? 1000)}`;
    return (await this.db.all(sql, params)).map(toRecord);
  }

  /** All checkpoints, ascending. */
  async checkpoints(): Promise<AuditCheckpoint[]> {
    const rows = await this.db.all('SELECT seq, hash, time, key_id, signature, keyed_from FROM audit_checkpoints ORDER BY seq');
    return rows.map(toCheckpoint);
  }

  /** The `keyed_from` the migration recorded (a hint only: verification trusts signed anchors). */
  async storedKeyedFrom(): Promise<number | undefined> {
    const rows = await this.db.all("SELECT value FROM audit_meta WHERE name = 'keyed_from'");
    const n = Number(rows[0]?.['value']);
    return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
  }

  /**
   * Retention: deletes every record up to and including the newest checkpoint older than `cutoff` (ISO time), so
   * the remaining chain starts right after a signed checkpoint (which is kept, and anchors verification), and in
   * the same transaction appends an `audit.pruned` record naming the last deleted seq — so a prefix deleted any
   * other way is told apart from retention. Returns the number of records deleted.
   *
   * @param now epoch ms for the `audit.pruned` record's time.
   */
  async prune(cutoff: string, now: number = Date.now()): Promise<number> {
    let appended: AuditRecord[] = [];
    const deleted = await this.db.tx(async (db) => {
      const rows = await db.all('SELECT MAX(seq) AS seq FROM audit_checkpoints WHERE time < $1', [cutoff]);
      const upTo = rows[0]?.['seq'];
      if (upTo === null || upTo === undefined) return 0;
      // Read before deleting: retention may remove every record, and the chain must go on from its old tail.
      const tail = await chainTail(db);
      // By seq only: a record stamped by a clock slightly ahead (another instance) must go with its neighbours, or
      // the remaining chain would have a hole and no longer verify.
      const n = await db.run('DELETE FROM audit_records WHERE seq <= $1', [Number(upTo)]);
      if (n > 0) appended = await this.#appendIn(db, [{ time: new Date(now).toISOString(), type: PRUNED_TYPE, fields: { through: Number(upTo), cutoff } }], tail);
      return n;
    }, CHAIN_LOCK);
    this.#notify(appended);
    return deleted;
  }
}

async function chainTail(db: Db): Promise<{ seq: number; hash: string } | undefined> {
  const rows = await db.all('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1');
  return rows[0] ? { seq: Number(rows[0]['seq']), hash: String(rows[0]['hash']) } : undefined;
}

function toCheckpoint(r: Row): AuditCheckpoint {
  const keyedFrom = r['keyed_from'];
  return {
    seq: Number(r['seq']),
    hash: String(r['hash']),
    time: String(r['time']),
    key_id: String(r['key_id']),
    signature: String(r['signature']),
    ...(keyedFrom === null || keyedFrom === undefined ? {} : { keyed_from: Number(keyedFrom) }),
  };
}

function toRecord(row: Row): AuditRecord {
  const mac = row['mac'];
  return {
    seq: Number(row['seq']),
    time: String(row['time']),
    type: String(row['type']),
    fields: JSON.parse(String(row['fields'])) as Record<string, unknown>,
    prev_hash: String(row['prev_hash']),
    hash: String(row['hash']),
    ...(mac === null || mac === undefined ? {} : { mac: String(mac) }),
  };
}
