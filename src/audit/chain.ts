import { createHmac, hash, timingSafeEqual, type KeyObject } from 'node:crypto';

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
 * refused. The same value always gives the same bytes, on every backend and every Node version. Built by string
 * concatenation (no per-level arrays): the audit writer runs it once per record.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Error('non-finite number in audit record');
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (Array.isArray(value)) {
        // Indexing visits holes too: a sparse array serialises as JSON does (`[null,"x"]`).
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out += (i === 0 ? '' : ',') + (item === undefined ? 'null' : canonicalJson(item));
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      let out = '{';
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`;
      }
      return `${out}}`;
    }
    default:
      throw new Error(`cannot serialise ${typeof value} in an audit record`);
  }
}

/** SHA-256 (hex) of the canonical serialisation of a record's seq, time, type, fields and prev_hash. */
export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  return hashWithFields(record, canonicalJson(record.fields));
}

/**
 * {@link recordHash} given the canonical JSON of the record's fields: the same text as
 * `canonicalJson({ seq, time, type, fields, prev_hash })` (keys in sorted order), without serialising the fields
 * a second time.
 */
function hashWithFields(record: Omit<AuditRecord, 'hash' | 'fields'>, fieldsJson: string): string {
  if (!Number.isFinite(record.seq)) throw new Error('non-finite number in audit record');
  const text = `{"fields":${fieldsJson},"prev_hash":${JSON.stringify(record.prev_hash)},"seq":${JSON.stringify(record.seq)},"time":${JSON.stringify(record.time)},"type":${JSON.stringify(record.type)}}`;
  return hash('sha256', text, 'hex');
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
 * record gets its MAC under `macKey`. `fieldsJson[i]` is the canonical JSON of `records[i].fields`: the text to
 * store, which is the text that was hashed.
 */
export function linkRecords(
  tail: { seq: number; hash: string } | undefined,
  entries: readonly { time: string; type: string; fields: Readonly<Record<string, unknown>> }[],
  macKey: KeyObject,
): { records: AuditRecord[]; fieldsJson: string[] } {
  let seq = tail?.seq ?? 0;
  let prev = tail?.hash ?? GENESIS_HASH;
  const records: AuditRecord[] = [];
  const fieldsJson: string[] = [];
  for (const entry of entries) {
    seq += 1;
    const base = { seq, time: entry.time, type: entry.type, fields: entry.fields, prev_hash: prev };
    const json = canonicalJson(entry.fields);
    const digest = hashWithFields(base, json);
    prev = digest;
    records.push({ ...base, hash: digest, mac: recordMac(macKey, seq, digest) });
    fieldsJson.push(json);
  }
  return { records, fieldsJson };
}
