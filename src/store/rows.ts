import type { FieldCipher } from './encryption/cipher.ts';
import type { AdminEvent, ApiKeyRecord, Consumer, SignatureKeyAlgorithm, SignatureKeyRecord } from './types.ts';

/** A database row as both drivers return it: column name → value. */
export type Row = Record<string, unknown>;

/**
 * How a driver hands back a JSON column: PostgreSQL (`jsonb`) as the parsed value, SQLite (`TEXT`) as the JSON
 * text. The mappers below are shared; only this differs.
 */
export type JsonColumn = (value: unknown) => unknown;

export const parsedJson: JsonColumn = (value) => value;
export const jsonText: JsonColumn = (value) => JSON.parse(String(value));

/**
 * The encrypted columns of each store table (docs/encryption-at-rest.md). Each table's data key has the table's
 * name as its purpose; the associated data of every value names the table, the row id and the column.
 * `signature_keys.secret` holds an envelope on every row: the HMAC secret, or JSON `null` for an asymmetric key.
 */
export const ENCRYPTED_COLUMNS: Readonly<Record<'consumers' | 'api_keys' | 'admin_events' | 'signature_keys', readonly string[]>> = {
  consumers: ['name', 'metadata'],
  api_keys: ['metadata'],
  admin_events: ['details'],
  signature_keys: ['secret'],
};
export const STORE_PURPOSES = Object.keys(ENCRYPTED_COLUMNS) as (keyof typeof ENCRYPTED_COLUMNS)[];
/** The row-id column of each encrypted table (part of every value's associated data). */
export const ROW_ID_COLUMN: Readonly<Record<keyof typeof ENCRYPTED_COLUMNS, string>> = { consumers: 'id', api_keys: 'id', admin_events: 'id', signature_keys: 'keyid' };

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function consumerFromRow(row: Row, json: JsonColumn, cipher: FieldCipher): Consumer {
  const id = String(row['id']);
  return {
    id,
    name: cipher.open('consumers', id, 'name', row['name']),
    tenant: str(row['tenant']),
    roles: json(row['roles']) as string[],
    groups: json(row['groups']) as string[],
    plan: str(row['plan']),
    metadata: cipher.openJson('consumers', id, 'metadata', row['metadata']) as Record<string, unknown>,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

export function keyFromRow(row: Row, json: JsonColumn, cipher: FieldCipher): ApiKeyRecord {
  const id = String(row['id']);
  return {
    id,
    prefix: String(row['prefix']),
    consumerId: String(row['consumer_id']),
    keyHash: String(row['key_hash']),
    scopes: json(row['scopes']) as string[],
    expiresAt: num(row['expires_at']),
    plan: str(row['plan']),
    metadata: cipher.openJson('api_keys', id, 'metadata', row['metadata']) as Record<string, unknown>,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
    lastUsedAt: num(row['last_used_at']),
    revokedAt: num(row['revoked_at']),
    replacedBy: str(row['replaced_by']),
    graceUntil: num(row['grace_until']),
  };
}

export function eventFromRow(row: Row, cipher: FieldCipher): AdminEvent {
  const id = String(row['id']);
  return {
    seq: Number(row['seq']),
    id,
    at: Number(row['at']),
    actor: String(row['actor']),
    action: String(row['action']),
    targetType: String(row['target_type']),
    targetId: str(row['target_id']),
    details: cipher.openJson('admin_events', id, 'details', row['details']) as Record<string, unknown>,
  };
}

export function signatureKeyFromRow(row: Row, cipher: FieldCipher): SignatureKeyRecord {
  const keyid = String(row['keyid']);
  const secret = cipher.openJson('signature_keys', keyid, 'secret', row['secret']);
  return {
    keyid,
    consumerId: String(row['consumer_id']),
    algorithm: String(row['algorithm']) as SignatureKeyAlgorithm,
    publicKey: str(row['public_key']),
    secret: typeof secret === 'string' ? secret : null,
    createdAt: Number(row['created_at']),
    revokedAt: num(row['revoked_at']),
  };
}
