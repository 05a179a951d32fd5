import { GENESIS_HASH, recordHash, type AuditRecord } from './chain.ts';
import { verifyCheckpoint, type SigningKey } from './signing.ts';
import type { AuditStore } from './store.ts';

/** What verification found. `firstBad` names the first record (by seq) where the chain stops holding. */
export interface VerifyResult {
  readonly ok: boolean;
  /** Records checked. */
  readonly records: number;
  readonly checkpoints: number;
  readonly lastSeq: number;
  readonly firstBad?: { readonly seq: number; readonly reason: string };
}

/**
 * Walks the whole chain in seq order and checks, for every record: the seq follows the previous one, prev_hash is
 * the previous record's hash, and the stored hash is the SHA-256 of the record's canonical form. Every checkpoint's
 * Ed25519 signature is checked and must match the record it names. A chain that starts after seq 1 (retention)
 * must start right after a valid checkpoint. Detects edited, deleted, inserted, reordered and truncated records.
 *
 * @param key public (or private) key to check checkpoint signatures with.
 * @param pageSize records read per query (default 1000).
 */
export async function verifyChain(store: AuditStore, key: SigningKey, pageSize = 1000): Promise<VerifyResult> {
  const checkpoints = await store.checkpoints();
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]));
  for (const cp of checkpoints) {
    if (cp.key_id !== key.keyId || !verifyCheckpoint(key, cp.seq, cp.hash, cp.time, cp.signature)) {
      return { ok: false, records: 0, checkpoints: checkpoints.length, lastSeq: 0, firstBad: { seq: cp.seq, reason: 'checkpoint signature invalid' } };
    }
  }
  let count = 0;
  let after = 0;
  let prev: AuditRecord | undefined;
  let beforePrev: AuditRecord | undefined;
  const fail = (seq: number, reason: string): VerifyResult => ({ ok: false, records: count, checkpoints: checkpoints.length, lastSeq: prev?.seq ?? 0, firstBad: { seq, reason } });
  for (;;) {
    const page = await store.page(after, pageSize);
    if (page.length === 0) break;
    for (const record of page) {
      if (prev === undefined) {
        if (record.seq !== 1) {
          const anchor = bySeq.get(record.seq - 1);
          if (!anchor) return fail(record.seq - 1 >= 1 ? 1 : record.seq, `chain starts at seq ${record.seq} without a signed checkpoint before it (records deleted)`);
          if (anchor.hash !== record.prev_hash) return fail(record.seq, 'prev_hash does not match the signed checkpoint before it');
        } else if (record.prev_hash !== GENESIS_HASH) {
          return fail(record.seq, 'first record does not start from the genesis hash');
        }
      } else {
        if (record.seq !== prev.seq + 1) return fail(prev.seq + 1, `record missing (next stored record is ${record.seq})`);
        if (record.prev_hash !== prev.hash) {
          if (beforePrev && record.prev_hash === beforePrev.hash) return fail(prev.seq, 'record inserted into the chain');
          return fail(record.seq, 'prev_hash does not match the previous record (record removed, inserted or reordered)');
        }
      }
      if (recordHash(record) !== record.hash) return fail(record.seq, 'hash does not match the record contents (record edited or moved)');
      const cp = bySeq.get(record.seq);
      if (cp && cp.hash !== record.hash) return fail(record.seq, 'record does not match its signed checkpoint');
      beforePrev = prev;
      prev = record;
      count++;
    }
    after = page.at(-1)!.seq;
  }
  const lastCheckpoint = checkpoints.at(-1);
  if (lastCheckpoint && (prev?.seq ?? 0) < lastCheckpoint.seq) {
    return fail((prev?.seq ?? 0) + 1, `records up to signed checkpoint ${lastCheckpoint.seq} are missing (chain truncated)`);
  }
  return { ok: true, records: count, checkpoints: checkpoints.length, lastSeq: prev?.seq ?? 0 };
}
