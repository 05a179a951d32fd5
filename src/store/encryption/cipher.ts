import { createHmac, randomBytes } from 'node:crypto';
import { KEY_BYTES, seal, unseal, type Keyring } from './keyring.ts';

/**
 * Field encryption with per-purpose data keys (envelope encryption). A stored field is
 * `rk1.<data key id>.<base64url(iv ‖ tag ‖ ciphertext)>`: AES-256-GCM under the data key, with associated data
 * naming the table, the row id, the column and the data key id, so a value copied to another row or column (or
 * relabelled with another key id) does not decrypt.
 */

export const ENVELOPE_VERSION = 'rk1';
const ENVELOPE = /^rk1\.([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.([A-Za-z0-9_-]+)$/;

/** One wrapped data key as stored in the data-key table. */
export interface DataKeyRow {
  readonly id: string;
  /** What the key encrypts: the table name. One data key per purpose. */
  readonly purpose: string;
  /** The KEK it is wrapped under. */
  readonly kek_id: string;
  readonly wrapped: string;
  readonly created_at: number;
  readonly wrapped_at: number;
}

/** A stored value could not be decrypted. Its message names the place (table, column, row id), never the value. */
export class DecryptionError extends Error {
  readonly code = 'decryption_failed';
  constructor(table: string, column: string, rowId: string, reason: string) {
    super(`cannot decrypt ${table}.${column} of row ${JSON.stringify(rowId)}: ${reason}`);
    this.name = 'DecryptionError';
  }
}

const fieldAad = (table: string, rowId: string, column: string, dekId: string) => `rampart.field.v1\u0000${table}\u0000${rowId}\u0000${column}\u0000${dekId}`;

/** Whether a stored value has the envelope's shape (it says nothing about whether it decrypts). */
export function isEnvelope(value: unknown): boolean {
  return typeof value === 'string' && ENVELOPE.test(value);
}

/** A fresh random data key for `purpose`, wrapped under the keyring's active KEK. */
export function newDataKey(keyring: Keyring, purpose: string, now: number): { readonly row: DataKeyRow; readonly key: Buffer } {
  const key = randomBytes(KEY_BYTES);
  const id = `dk_${randomBytes(8).toString('hex')}`;
  const { kekId, wrapped } = keyring.wrap(purpose, id, key);
  return { row: { id, purpose, kek_id: kekId, wrapped, created_at: now, wrapped_at: now }, key };
}

/**
 * The row re-wrapped under the active KEK, or undefined when it already is. The data key itself does not change,
 * so data encrypted under it stays readable by every process, whichever wrapping it read.
 * @throws KeyringError when the row's KEK is not configured or the row does not unwrap.
 */
export function rewrapDataKey(row: DataKeyRow, keyring: Keyring, now: number): DataKeyRow | undefined {
  if (row.kek_id === keyring.activeId) return undefined;
  const key = keyring.unwrap(row.purpose, row.id, row.kek_id, row.wrapped);
  const { kekId, wrapped } = keyring.wrap(row.purpose, row.id, key);
  return { ...row, kek_id: kekId, wrapped, wrapped_at: now };
}

/** Reads a data-key row from either driver (numbers may come back as strings from PostgreSQL BIGINT). */
export function dataKeyRow(row: Record<string, unknown>): DataKeyRow {
  return {
    id: String(row['id']),
    purpose: String(row['purpose']),
    kek_id: String(row['kek_id']),
    wrapped: String(row['wrapped']),
    created_at: Number(row['created_at']),
    wrapped_at: Number(row['wrapped_at']),
  };
}

/** The unwrapped data keys of one database, held in memory for the life of the store. */
export class FieldCipher {
  readonly #byPurpose = new Map<string, { readonly id: string; readonly key: Buffer }>();
  readonly #byId = new Map<string, { readonly purpose: string; readonly key: Buffer }>();

  /**
   * Unwraps every stored data key (not only the ones this process uses: a data key wrapped under a KEK that is
   * no longer configured must stop start-up, not a request later).
   * @throws KeyringError
   */
  static fromRows(rows: readonly DataKeyRow[], keyring: Keyring): FieldCipher {
    const cipher = new FieldCipher();
    for (const row of rows) cipher.add(row, keyring.unwrap(row.purpose, row.id, row.kek_id, row.wrapped));
    return cipher;
  }

  add(row: Pick<DataKeyRow, 'id' | 'purpose'>, key: Buffer): void {
    this.#byId.set(row.id, { purpose: row.purpose, key });
    if (!this.#byPurpose.has(row.purpose)) this.#byPurpose.set(row.purpose, { id: row.id, key });
  }

  has(purpose: string): boolean {
    return this.#byPurpose.has(purpose);
  }

  /** Encrypts one field of one row. The table is the data key's purpose. */
  seal(table: string, rowId: string, column: string, plaintext: string): string {
    const dek = this.#byPurpose.get(table);
    if (!dek) throw new Error(`no data key for ${table}`);
    return `${ENVELOPE_VERSION}.${dek.id}.${seal(dek.key, fieldAad(table, rowId, column, dek.id), Buffer.from(plaintext, 'utf8'))}`;
  }

  /**
   * Decrypts one field of one row.
   * @throws DecryptionError when the value is not an envelope (plaintext written around Rampart, a truncated
   *   value), names an unknown data key or one of another table, or does not authenticate (tampered, or copied
   *   from another row or column).
   */
  open(table: string, rowId: string, column: string, stored: unknown): string {
    const match = typeof stored === 'string' ? ENVELOPE.exec(stored) : null;
    if (!match) throw new DecryptionError(table, column, rowId, 'the stored value is not an encrypted envelope');
    const dekId = match[1]!;
    const dek = this.#byId.get(dekId);
    if (!dek) throw new DecryptionError(table, column, rowId, `unknown data key ${dekId}`);
    if (dek.purpose !== table) throw new DecryptionError(table, column, rowId, `data key ${dekId} belongs to ${dek.purpose}`);
    const plain = unseal(dek.key, fieldAad(table, rowId, column, dekId), match[2]!);
    if (!plain) throw new DecryptionError(table, column, rowId, 'authentication failed (the value was altered, truncated, or copied from another row or column)');
    return plain.toString('utf8');
  }

  /**
   * A keyed hash (HMAC-SHA-256, hex) of `value` under the data key of `purpose`: a lookup column that shows only
   * whether two rows hold the same value. Use a purpose of its own (never a table's sealing key).
   */
  digest(purpose: string, value: string): string {
    const dek = this.#byPurpose.get(purpose);
    if (!dek) throw new Error(`no data key for ${purpose}`);
    return createHmac('sha256', dek.key).update(value, 'utf8').digest('hex');
  }

  /** `seal` of a JSON value. */
  sealJson(table: string, rowId: string, column: string, value: unknown): string {
    return this.seal(table, rowId, column, JSON.stringify(value));
  }

  /** `open` of a JSON value. */
  openJson(table: string, rowId: string, column: string, stored: unknown): unknown {
    const text = this.open(table, rowId, column, stored);
    try {
      return JSON.parse(text);
    } catch {
      throw new DecryptionError(table, column, rowId, 'the decrypted value is not JSON');
    }
  }
}
