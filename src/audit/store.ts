import { canonicalJson, linkRecords, type AuditRecord } from './chain.ts';
import type { Db, Row } from './db.ts';
import { signCheckpoint, type SigningKey } from './signing.ts';

/** A signed checkpoint: the hash of record `seq`, signed with Rampart's Ed25519 key. */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly key_id: string;
  readonly signature: string;
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
}

/** Advisory lock key so concurrent PostgreSQL writers (several gateway instances) extend one chain in turn. */
const CHAIN_LOCK = 0x52_41_4d_50;

const SCHEMA = `
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
);`;

/**
 * The audit table on SQLite or PostgreSQL (same SQL, same contract). Append-only: the only delete is retention,
 * which removes whole prefixes of the chain up to a signed checkpoint so the rest still verifies.
 */
export class AuditStore {
  readonly db: Db;
  readonly #key: SigningKey | undefined;
  readonly #checkpointEvery: number;

  /**
   * @param key signs checkpoints (absent: read-only use, e.g. `audit verify` with a public key).
   * @param checkpointEvery a checkpoint every N records (default 1000).
   */
  constructor(db: Db, key: SigningKey | undefined, checkpointEvery = 1000) {
    this.db = db;
    this.#key = key;
    this.#checkpointEvery = checkpointEvery;
  }

  /** Creates the tables when absent. */
  async init(): Promise<void> {
    await this.db.exec(SCHEMA);
  }

  /**
   * Appends entries in one transaction: reads the chain tail, links the entries, inserts them and any checkpoint
   * that falls due. Durable when it resolves (SQLite synchronous=FULL; PostgreSQL commit).
   */
  async append(entries: readonly PendingEntry[]): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    return this.db.tx(async (db) => {
      const tailRows = await db.all('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1');
      const tail = tailRows[0] ? { seq: Number(tailRows[0]['seq']), hash: String(tailRows[0]['hash']) } : undefined;
      const records = linkRecords(tail, entries);
      for (let i = 0; i < records.length; i += 200) {
        const chunk = records.slice(i, i + 200);
        const params: unknown[] = [];
        const values = chunk.map((r, j) => {
          params.push(r.seq, r.time, r.type, canonicalJson(r.fields), r.prev_hash, r.hash);
          const b = j * 6;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6})`;
        });
        await db.run(`INSERT INTO audit_records (seq, time, type, fields, prev_hash, hash) VALUES ${values.join(', ')}`, params);
      }
      if (this.#key?.privateKey) {
        for (const r of records) {
          if (r.seq % this.#checkpointEvery !== 0) continue;
          const signature = signCheckpoint(this.#key, r.seq, r.hash, r.time);
          await db.run('INSERT INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5)', [
            r.seq,
            r.hash,
            r.time,
            this.#key.keyId,
            signature,
          ]);
        }
      }
      return records;
    }, CHAIN_LOCK);
  }

  /** Records with seq > `afterSeq`, ascending, at most `limit`. */
  async page(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all('SELECT seq, time, type, fields, prev_hash, hash FROM audit_records WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit]);
    return rows.map(toRecord);
  }

  /** The newest `limit` records, ascending. */
  async tail(limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all('SELECT seq, time, type, fields, prev_hash, hash FROM audit_records ORDER BY seq DESC LIMIT $1', [limit]);
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
    const sql = `SELECT seq, time, type, fields, prev_hash, hash FROM audit_records${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT $${params.push(filter.limit ?? 1000)}`;
    return (await this.db.all(sql, params)).map(toRecord);
  }

  /** All checkpoints, ascending. */
  async checkpoints(): Promise<AuditCheckpoint[]> {
    const rows = await this.db.all('SELECT seq, hash, time, key_id, signature FROM audit_checkpoints ORDER BY seq');
    return rows.map((r) => ({ seq: Number(r['seq']), hash: String(r['hash']), time: String(r['time']), key_id: String(r['key_id']), signature: String(r['signature']) }));
  }

  /**
   * Retention: deletes every record up to and including the newest checkpoint older than `cutoff` (ISO time), so
   * the remaining chain starts right after a signed checkpoint (which is kept, and anchors verification). Returns the number of records deleted.
   */
  async prune(cutoff: string): Promise<number> {
    return this.db.tx(async (db) => {
      const rows = await db.all('SELECT MAX(seq) AS seq FROM audit_checkpoints WHERE time < $1', [cutoff]);
      const upTo = rows[0]?.['seq'];
      if (upTo === null || upTo === undefined) return 0;
      // By seq only: a record stamped by a clock slightly ahead (another instance) must go with its neighbours, or
      // the remaining chain would have a hole and no longer verify.
      return db.run('DELETE FROM audit_records WHERE seq <= $1', [Number(upTo)]);
    }, CHAIN_LOCK);
  }
}

function toRecord(row: Row): AuditRecord {
  return {
    seq: Number(row['seq']),
    time: String(row['time']),
    type: String(row['type']),
    fields: JSON.parse(String(row['fields'])) as Record<string, unknown>,
    prev_hash: String(row['prev_hash']),
    hash: String(row['hash']),
  };
}
