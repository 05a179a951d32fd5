import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** The prev_hash of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** One audit record as stored. `fields` is held as its canonical JSON text so the stored bytes are what was hashed. */
export interface AuditRecord {
  readonly seq: number;
  /** ISO 8601 UTC with milliseconds. */
  readonly time: string;
  readonly type: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly prev_hash: string;
  readonly hash: string;
  /** HMAC-SHA-256 of the record's seq and hash under the audit MAC key; absent only on records written before v2. */
  readonly mac?: string;
}

/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members dropped, non-finite numbers
 * refused. The same value always gives the same bytes, on every backend and every Node version.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('non-finite number in audit record');
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      // Array.from visits holes too: a sparse array must serialise as JSON (`[null,"x"]`), as JSON.stringify does.
      if (Array.isArray(value)) return `[${Array.from(value, (v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
      const keys = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
    }
    default:
      throw new Error(`cannot serialise ${typeof value} in an audit record`);
  }
}

/** SHA-256 (hex) of the canonical serialisation of a record's seq, time, type, fields and prev_hash. */
export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  const text = canonicalJson({ seq: record.seq, time: record.time, type: record.type, fields: record.fields, prev_hash: record.prev_hash });
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The keyed link of a record: HMAC-SHA-256 (hex) of its seq and hash. The hash already commits to the contents and
 * to the previous record, so a record (or a recomputed run of them) cannot be forged without the key.
 */
export function recordMac(macKey: KeyObject, seq: number, hash: string): string {
  return createHmac('sha256', macKey).update(`rampart-audit-record:v2:${seq}:${hash}`).digest('hex');
}

/** Whether `mac` is the record's MAC under `macKey` (constant time). */
export function macMatches(macKey: KeyObject, record: Pick<AuditRecord, 'seq' | 'hash'>, mac: string): boolean {
  const expected = Buffer.from(recordMac(macKey, record.seq, record.hash));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Links new entries onto a chain tail (seq and hash of the last stored record, or none for an empty chain); each
 * record gets its MAC under `macKey`.
 */
export function linkRecords(
  tail: { seq: number; hash: string } | undefined,
  entries: readonly { time: string; type: string; fields: Readonly<Record<string, unknown>> }[],
  macKey: KeyObject,
): AuditRecord[] {
  let seq = tail?.seq ?? 0;
  let prev = tail?.hash ?? GENESIS_HASH;
  return entries.map((entry) => {
    seq += 1;
    const base = { seq, time: entry.time, type: entry.type, fields: entry.fields, prev_hash: prev };
    const hash = recordHash(base);
    prev = hash;
    return { ...base, hash, mac: recordMac(macKey, seq, hash) };
  });
}
