import type { AdminEvent, ApiKeyRecord, Consumer } from './types.ts';

/** A database row as both drivers return it: column name → value. */
export type Row = Record<string, unknown>;

/**
 * How a driver hands back a JSON column: PostgreSQL (`jsonb`) as the parsed value, SQLite (`TEXT`) as the JSON
 * text. The mappers below are shared; only this differs.
 */
export type JsonColumn = (value: unknown) => unknown;

export const parsedJson: JsonColumn = (value) => value;
export const jsonText: JsonColumn = (value) => JSON.parse(String(value));

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function consumerFromRow(row: Row, json: JsonColumn): Consumer {
  return {
    id: String(row['id']),
    name: String(row['name']),
    tenant: str(row['tenant']),
    roles: json(row['roles']) as string[],
    groups: json(row['groups']) as string[],
    plan: str(row['plan']),
    metadata: json(row['metadata']) as Record<string, unknown>,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
  };
}

export function keyFromRow(row: Row, json: JsonColumn): ApiKeyRecord {
  return {
    id: String(row['id']),
    prefix: String(row['prefix']),
    consumerId: String(row['consumer_id']),
    keyHash: String(row['key_hash']),
    scopes: json(row['scopes']) as string[],
    expiresAt: num(row['expires_at']),
    plan: str(row['plan']),
    metadata: json(row['metadata']) as Record<string, unknown>,
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
    lastUsedAt: num(row['last_used_at']),
    revokedAt: num(row['revoked_at']),
    replacedBy: str(row['replaced_by']),
    graceUntil: num(row['grace_until']),
  };
}

export function eventFromRow(row: Row, json: JsonColumn): AdminEvent {
  return {
    seq: Number(row['seq']),
    id: String(row['id']),
    at: Number(row['at']),
    actor: String(row['actor']),
    action: String(row['action']),
    targetType: String(row['target_type']),
    targetId: str(row['target_id']),
    details: json(row['details']) as Record<string, unknown>,
  };
}
