import { randomUUID } from 'node:crypto';
import type { Db } from '../audit/db.ts';
import type { FieldCipher } from '../store/encryption/cipher.ts';
import { dataKeyTableSql, encryptExistingRows, openFieldCipher, rotateDataKeys, type RotationReport } from '../store/encryption/data-keys.ts';
import type { Keyring } from '../store/encryption/keyring.ts';
import { activeBlocks, assertNoOrphanBlocks, BLOCK_LOOKUP, BLOCKS, BLOCKS_SCHEMA, deleteBlock, migrateLegacyBlocks, putBlock } from './block-store.ts';
import type { BlockEntry } from './blocks.ts';
import type { Severity } from './schema.ts';

export type ActionType = 'block_ip' | 'suspend_key' | 'revoke_tokens' | 'tighten_rate_limit';

/** One containment action taken on an incident. */
export interface IncidentAction {
  readonly id: string;
  readonly type: ActionType;
  /** IP, key id, subject or consumer the action applies to. */
  readonly target: string;
  readonly at: string;
  /** Epoch ms when the action lapses by itself (blocks, tightened limits). */
  readonly until?: number;
  status: 'applied' | 'failed' | 'reverted' | 'unavailable';
  detail?: string;
}

export interface TimelineEntry {
  readonly at: string;
  readonly event: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** What a detection says about the subject it fired on. */
export interface IncidentSubject {
  readonly ip?: string;
  readonly consumer?: string;
  readonly subject?: string;
  readonly keyId?: string;
}

export interface Incident {
  readonly id: string;
  /** Detector that opened it: auth_failures, rate_spike, enumeration, scraping, error_spike, key_many_ips. */
  readonly kind: string;
  /** Dedup key: kind + subject; an open incident with the same key is updated, not duplicated. */
  readonly key: string;
  severity: Severity;
  status: 'open' | 'resolved';
  readonly subject: IncidentSubject;
  summary: string;
  /** Events counted (cumulative over updates). */
  count: number;
  readonly firstSeen: string;
  lastSeen: string;
  evidence: { requestIds: string[]; counts: Record<string, number>; samples: Record<string, unknown>[] };
  actions: IncidentAction[];
  timeline: TimelineEntry[];
  resolvedAt?: string;
  resolvedBy?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rampart_incidents (
  id TEXT PRIMARY KEY,
  incident_key TEXT NOT NULL,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  opened_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rampart_incidents_status ON rampart_incidents (status, incident_key);
${BLOCKS_SCHEMA}`;

/** The audit database's data-key table, and the purpose (table) of the incidents' data key. */
export const INCIDENT_DATA_KEYS = 'rampart_data_keys';
const INCIDENTS = 'rampart_incidents';
const ENCRYPTED = ['incident_key', 'data'] as const;
/** PostgreSQL advisory lock taken while the data keys are created and older rows upgraded (instances starting together). */
const DATA_KEY_LOCK = 0x52_41_4d_4b;

/**
 * Incidents and IP blocks on the audit database (SQLite or PostgreSQL, same SQL). An incident's record (subject,
 * evidence, timeline: IPs, consumers, subjects, key ids) and its dedup key are encrypted under the incidents' data
 * key (docs/encryption-at-rest.md); id, kind, severity, status and times stay in clear for listing. Blocks: see
 * block-store.ts.
 */
export class IncidentStore {
  readonly #db: Db;
  readonly #keyring: Keyring;
  #cipher: FieldCipher | undefined;
  constructor(db: Db, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
  }

  /**
   * Creates the tables and opens the data keys: created on first use, when the incidents an older version stored in
   * clear are encrypted in the same transaction. Blocks an older version stored in clear are moved to the encrypted
   * table in that transaction too, at every start.
   * @throws KeyringError when a data key needs a KEK that is not configured.
   */
  async init(): Promise<void> {
    await this.#db.exec(`${SCHEMA}
${dataKeyTableSql(INCIDENT_DATA_KEYS)};`);
    let upgraded = 0;
    this.#cipher = await this.#db.tx(async (tx) => {
      const cipher = await openFieldCipher(tx, INCIDENT_DATA_KEYS, this.#keyring, [INCIDENTS, BLOCKS, BLOCK_LOOKUP], async (purpose, cipher) => {
        if (purpose === INCIDENTS) upgraded += await encryptExistingRows(tx, cipher, INCIDENTS, 'id', ENCRYPTED);
        else await assertNoOrphanBlocks(tx, purpose);
      });
      upgraded += await migrateLegacyBlocks(tx, cipher);
      return cipher;
    }, DATA_KEY_LOCK);
    // Rows rewritten from clear (SQLite): rebuild the file so neither the WAL nor pages an older version freed
    // without zeroing keep an old plaintext copy. Only then; the writer thread may hold the lock a moment.
    if (upgraded > 0 && this.#db.kind === 'sqlite') await vacuum(this.#db);
  }

  /** Re-wraps the audit database's data keys under the active KEK (`rampart keys rotate-kek`). */
  rotateKek(now = Date.now()): Promise<RotationReport> {
    return rotateDataKeys(this.#db, INCIDENT_DATA_KEYS, this.#keyring, now);
  }

  get #sealed(): FieldCipher {
    if (!this.#cipher) throw new Error('IncidentStore.init() was not called');
    return this.#cipher;
  }

  #open(row: Record<string, unknown>): Incident {
    return this.#sealed.openJson(INCIDENTS, String(row['id']), 'data', row['data']) as Incident;
  }

  /** A fresh incident id. */
  static newId(): string {
    return 'inc_' + randomUUID().replace(/-/g, '').slice(0, 20);
  }

  async save(incident: Incident): Promise<void> {
    const data = this.#sealed.sealJson(INCIDENTS, incident.id, 'data', incident);
    const updated = await this.#db.run('UPDATE rampart_incidents SET severity = $2, status = $3, updated_at = $4, data = $5 WHERE id = $1', [
      incident.id,
      incident.severity,
      incident.status,
      incident.lastSeen,
      data,
    ]);
    if (updated === 0) {
      await this.#db.run(
        'INSERT INTO rampart_incidents (id, incident_key, kind, severity, status, opened_at, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [incident.id, this.#sealed.seal(INCIDENTS, incident.id, 'incident_key', incident.key), incident.kind, incident.severity, incident.status, incident.firstSeen, incident.lastSeen, data],
      );
    }
  }

  async get(id: string): Promise<Incident | undefined> {
    const rows = await this.#db.all('SELECT id, data FROM rampart_incidents WHERE id = $1', [id]);
    return rows[0] ? this.#open(rows[0]) : undefined;
  }

  /**
   * Incidents, newest first (default limit 100); `after` is an incident id: the page continues after it in that
   * order (opened_at, then id, both descending, so incidents opened in the same millisecond are neither skipped nor
   * repeated). An unknown `after` gives an empty page.
   */
  async list(filter: { status?: 'open' | 'resolved'; limit?: number; after?: string } = {}): Promise<Incident[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (filter.after !== undefined) {
      const cursor = `(SELECT opened_at FROM rampart_incidents WHERE id = $${params.push(filter.after)})`;
      where.push(`(opened_at < ${cursor} OR (opened_at = ${cursor} AND id < $${params.push(filter.after)}))`);
    }
    const rows = await this.#db.all(
      `SELECT id, data FROM rampart_incidents ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at DESC, id DESC LIMIT $${params.push(filter.limit ?? 100)}`,
      params,
    );
    return rows.map((r) => this.#open(r));
  }

  putBlock(entry: BlockEntry): Promise<void> {
    return putBlock(this.#db, this.#sealed, entry);
  }

  deleteBlock(ip: string): Promise<boolean> {
    return deleteBlock(this.#db, this.#sealed, ip);
  }

  /**
   * Blocks still in force at `now` (epoch ms).
   * @throws DecryptionError when a stored IP does not decrypt.
   */
  activeBlocks(now: number): Promise<BlockEntry[]> {
    return activeBlocks(this.#db, this.#sealed, now);
  }
}

/** Checkpoints and VACUUMs an SQLite database, waiting out (bounded) another connection's lock. */
async function vacuum(db: Db): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await db.exec('PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);');
      return;
    } catch (error) {
      if (attempt >= 50 || !/busy|locked/i.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
