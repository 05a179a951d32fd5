import { dataKeyRow, FieldCipher, isEnvelope, newDataKey, rewrapDataKey, type DataKeyRow } from './cipher.ts';
import { KeyringError, type Keyring } from './keyring.ts';

/**
 * The data-key table of one database (`data_keys` in the store, `rampart_data_keys` in the audit database): one
 * wrapped data key per purpose. Written once per purpose, then only re-wrapped by `rampart keys rotate-kek`.
 * SQL is written with `$1…$n` placeholders for both drivers.
 */

/** The small SQL surface these functions need (the audit `Db` has it; the stores adapt to it). */
export interface KeySql {
  all(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;
const checked = (table: string): string => {
  if (!TABLE.test(table)) throw new Error(`invalid data-key table name ${table}`);
  return table;
};

/** `CREATE TABLE IF NOT EXISTS` of a data-key table (SQLite and PostgreSQL alike). */
export function dataKeyTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${checked(table)} (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL UNIQUE,
    kek_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    wrapped_at BIGINT NOT NULL
  )`;
}

export const selectDataKeysSql = (table: string) => `SELECT id, purpose, kek_id, wrapped, created_at, wrapped_at FROM ${checked(table)} ORDER BY id`;
export const insertDataKeySql = (table: string) =>
  `INSERT INTO ${checked(table)} (id, purpose, kek_id, wrapped, created_at, wrapped_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (purpose) DO NOTHING`;
/** Compare-and-swap: a concurrent rotation that already re-wrapped the row makes this change nothing. */
export const rewrapDataKeySql = (table: string) => `UPDATE ${checked(table)} SET kek_id = $1, wrapped = $2, wrapped_at = $3 WHERE id = $4 AND kek_id = $5 AND wrapped = $6`;

export const insertParams = (row: DataKeyRow): unknown[] => [row.id, row.purpose, row.kek_id, row.wrapped, row.created_at, row.wrapped_at];

export async function listDataKeys(sql: KeySql, table: string): Promise<DataKeyRow[]> {
  return (await sql.all(selectDataKeysSql(table))).map(dataKeyRow);
}

/**
 * Unwraps every data key of the table and creates the missing ones of `purposes`. For each data key created,
 * `upgrade(purpose, cipher)` runs at once: it encrypts the rows written before encryption existed. Call it inside
 * one transaction (and, on PostgreSQL, under a lock) so the new key and the encrypted rows commit together.
 * @throws KeyringError when a stored data key needs a KEK that is not configured, or does not unwrap.
 */
export async function openFieldCipher(
  sql: KeySql,
  table: string,
  keyring: Keyring,
  purposes: readonly string[],
  upgrade: (purpose: string, cipher: FieldCipher) => Promise<void>,
  now = Date.now(),
): Promise<FieldCipher> {
  const cipher = FieldCipher.fromRows(await listDataKeys(sql, table), keyring);
  for (const purpose of purposes) {
    if (cipher.has(purpose)) continue;
    const { row, key } = newDataKey(keyring, purpose, now);
    if ((await sql.run(insertDataKeySql(table), insertParams(row))) === 1) {
      cipher.add(row, key);
      await upgrade(purpose, cipher);
    } else {
      // Another process created it between our read and our insert (only without the caller's lock): use theirs.
      const theirs = (await listDataKeys(sql, table)).find((r) => r.purpose === purpose)!;
      cipher.add(theirs, keyring.unwrap(theirs.purpose, theirs.id, theirs.kek_id, theirs.wrapped));
    }
  }
  return cipher;
}

/** What one `rotate-kek` run did on one data-key table. */
export interface RotationReport {
  readonly table: string;
  /** Data keys this run re-wrapped under the active KEK. */
  readonly rewrapped: readonly string[];
  /** Data keys already under the active KEK (before this run, or re-wrapped by a concurrent run). */
  readonly current: readonly string[];
  /** Every data key by the KEK now wrapping it. */
  readonly byKek: Readonly<Record<string, number>>;
}

/**
 * Re-wraps every data key not under the active KEK, one compare-and-swap UPDATE per key: readers never wait (the
 * data key does not change, only its wrapping), and two runs at once cannot both win a row or undo each other.
 * @throws KeyringError when a data key's KEK is not configured (nothing is changed for that key).
 */
export async function rotateDataKeys(sql: KeySql, table: string, keyring: Keyring, now = Date.now()): Promise<RotationReport> {
  const rewrapped: string[] = [];
  const current: string[] = [];
  for (const row of await listDataKeys(sql, table)) {
    let candidate: DataKeyRow | undefined = row;
    for (let attempt = 0; candidate && attempt < 3; attempt++) {
      const next = rewrapDataKey(candidate, keyring, now);
      if (!next) {
        current.push(row.id);
        candidate = undefined;
        break;
      }
      const changed = await sql.run(rewrapDataKeySql(table), [next.kek_id, next.wrapped, next.wrapped_at, candidate.id, candidate.kek_id, candidate.wrapped]);
      if (changed === 1) {
        rewrapped.push(row.id);
        candidate = undefined;
        break;
      }
      // Lost the race: read the row again and re-check.
      candidate = (await listDataKeys(sql, table)).find((r) => r.id === row.id);
    }
    if (candidate) throw new Error(`data key ${row.id} kept changing during rotation; run rampart keys rotate-kek again`);
  }
  const byKek: Record<string, number> = {};
  for (const row of await listDataKeys(sql, table)) byKek[row.kek_id] = (byKek[row.kek_id] ?? 0) + 1;
  return { table, rewrapped, current, byKek };
}

/** SQL of the upgrade of one table: select every row's plaintext columns, update them to ciphertext. */
export function upgradeSql(table: string, idColumn: string, columns: readonly string[]): { readonly select: string; readonly update: string } {
  for (const name of [table, idColumn, ...columns]) checked(name);
  return {
    select: `SELECT ${idColumn}, ${columns.join(', ')} FROM ${table}`,
    update: `UPDATE ${table} SET ${columns.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE ${idColumn} = $${columns.length + 1}`,
  };
}

/**
 * The update parameters that encrypt one row written before its table had a data key (the columns' ciphertexts,
 * then the id).
 * @throws KeyringError when a value is already encrypted: the table's data key went missing (a data-key table
 *   restored from an older backup, or emptied); sealing again would bury the data under a key nobody has.
 */
export function sealedRow(cipher: FieldCipher, table: string, idColumn: string, columns: readonly string[], row: Record<string, unknown>): unknown[] {
  const id = String(row[idColumn]);
  const values = columns.map((column) => {
    const value = row[column];
    if (isEnvelope(value)) {
      throw new KeyringError(`${table}.${column} of row ${JSON.stringify(id)} is encrypted, but the data key of ${table} is missing from the data-key table; restore that table from the backup taken with the data`);
    }
    return cipher.seal(table, id, column, typeof value === 'string' ? value : JSON.stringify(value ?? null));
  });
  return [...values, id];
}

/** Encrypts every row of `table` (the upgrade step run when its data key is created). Returns the row count. */
export async function encryptExistingRows(sql: KeySql, cipher: FieldCipher, table: string, idColumn: string, columns: readonly string[]): Promise<number> {
  const { select, update } = upgradeSql(table, idColumn, columns);
  const rows = await sql.all(select);
  for (const row of rows) await sql.run(update, sealedRow(cipher, table, idColumn, columns, row));
  return rows.length;
}
