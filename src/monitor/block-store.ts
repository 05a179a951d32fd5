import type { Db } from '../audit/db.ts';
import type { FieldCipher } from '../store/encryption/cipher.ts';
import { KeyringError } from '../store/encryption/keyring.ts';
import type { BlockEntry } from './blocks.ts';

/**
 * IP blocks on the audit database (SQLite or PostgreSQL, same SQL), with no IP in clear: the row id is an
 * HMAC-SHA-256 of the IP under a data key of its own (`BLOCK_LOOKUP`), so a block is found, replaced and lifted by
 * IP, and the IP itself is sealed under the blocks' data key, bound to that row (docs/encryption-at-rest.md).
 */

/** The table, and the purpose of the data key sealing its `ip` column. */
export const BLOCKS = 'rampart_ip_blocks';
/** The purpose of the data key the lookup hash is keyed with. */
export const BLOCK_LOOKUP = 'rampart_ip_blocks.ip_hash';
/** The table of older versions: the IP in clear as its primary key. */
const LEGACY = 'rampart_blocks';

export const BLOCKS_SCHEMA = `CREATE TABLE IF NOT EXISTS ${BLOCKS} (
  ip_hash TEXT PRIMARY KEY,
  ip TEXT NOT NULL,
  until_ms BIGINT NOT NULL,
  incident_id TEXT,
  reason TEXT NOT NULL
);`;

const UPSERT = `INSERT INTO ${BLOCKS} (ip_hash, ip, until_ms, incident_id, reason) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (ip_hash) DO UPDATE SET ip = excluded.ip, until_ms = excluded.until_ms, incident_id = excluded.incident_id, reason = excluded.reason`;

function params(cipher: FieldCipher, entry: BlockEntry): unknown[] {
  const id = cipher.digest(BLOCK_LOOKUP, entry.ip);
  return [id, cipher.seal(BLOCKS, id, 'ip', entry.ip), entry.until, entry.incidentId ?? null, entry.reason];
}

/** Adds or replaces the block of `entry.ip`. */
export async function putBlock(db: Db, cipher: FieldCipher, entry: BlockEntry): Promise<void> {
  await db.run(UPSERT, params(cipher, entry));
}

/** Lifts the block of `ip`; returns whether one was stored. */
export async function deleteBlock(db: Db, cipher: FieldCipher, ip: string): Promise<boolean> {
  return (await db.run(`DELETE FROM ${BLOCKS} WHERE ip_hash = $1`, [cipher.digest(BLOCK_LOOKUP, ip)])) > 0;
}

/**
 * Blocks still in force at `now` (epoch ms).
 * @throws DecryptionError when a stored IP does not decrypt (altered, or moved from another row): fails closed.
 */
export async function activeBlocks(db: Db, cipher: FieldCipher, now: number): Promise<BlockEntry[]> {
  const rows = await db.all(`SELECT ip_hash, ip, until_ms, incident_id, reason FROM ${BLOCKS} WHERE until_ms > $1`, [now]);
  return rows.map((r) => ({
    ip: cipher.open(BLOCKS, String(r['ip_hash']), 'ip', r['ip']),
    until: Number(r['until_ms']),
    reason: String(r['reason']),
    ...(r['incident_id'] ? { incidentId: String(r['incident_id']) } : {}),
  }));
}

/**
 * The upgrade step when a blocks data key is created: the table must be empty, or its rows were sealed under a
 * data key that went missing (a data-key table restored from an older backup, or emptied).
 * @throws KeyringError
 */
export async function assertNoOrphanBlocks(db: Db, purpose: string): Promise<void> {
  if ((await db.all(`SELECT ip_hash FROM ${BLOCKS} LIMIT 1`)).length === 0) return;
  throw new KeyringError(`${BLOCKS} holds encrypted blocks, but the data key ${purpose} is missing from the data-key table; restore that table from the backup taken with the data`);
}

/**
 * Moves the blocks an older version stored in clear (`rampart_blocks`) into the encrypted table; on a conflict the
 * block lasting longer wins. Run inside init's transaction. The legacy table is emptied, not dropped: an instance of
 * the older version still running during a rolling upgrade keeps persisting its blocks there, and the next start of
 * this version takes them over. Returns how many rows were moved.
 */
export async function migrateLegacyBlocks(db: Db, cipher: FieldCipher): Promise<number> {
  const present =
    db.kind === 'sqlite'
      ? await db.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1", [LEGACY])
      : await db.all('SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1', [LEGACY]);
  if (present.length === 0) return 0;
  // DELETE … RETURNING takes exactly the rows it removes: a row an older instance inserts meanwhile stays for later.
  const rows = await db.all(`DELETE FROM ${LEGACY} RETURNING ip, until_ms, incident_id, reason`);
  for (const r of rows) {
    const entry: BlockEntry = { ip: String(r['ip']), until: Number(r['until_ms']), reason: String(r['reason']), ...(r['incident_id'] ? { incidentId: String(r['incident_id']) } : {}) };
    await db.run(`${UPSERT} WHERE excluded.until_ms > ${BLOCKS}.until_ms`, params(cipher, entry));
  }
  return rows.length;
}
