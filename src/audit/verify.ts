import { GENESIS_HASH, macMatches, recordHash, type AuditRecord } from './chain.ts';
import { verifyHead, type SignedHead } from './head.ts';
import { verifyCheckpoint, type SigningKey } from './signing.ts';
import { PRUNED_TYPE, type AuditStore } from './store.ts';

/** What verification found. `firstBad` names the first record (by seq) where the chain stops holding. */
export interface VerifyResult {
  readonly ok: boolean;
  /** Records checked. */
  readonly records: number;
  readonly checkpoints: number;
  readonly lastSeq: number;
  /** Published heads checked against the store. */
  readonly heads: number;
  /** Records whose MAC was checked (0 with a public key only). */
  readonly macs: number;
  /**
   * Records after the newest signed anchor (checkpoint or head) whose MAC could not be checked (public key only):
   * nothing vouches for them.
   */
  readonly unanchored: number;
  readonly firstBad?: { readonly seq: number; readonly reason: string };
}

export interface VerifyOptions {
  /** Heads published earlier (head file, log, admin API): the store must still hold each of them. */
  readonly heads?: readonly SignedHead[];
  /** Records read per query (default 1000). */
  readonly pageSize?: number;
}

/**
 * Walks the whole chain in seq order and checks, for every record: the seq follows the previous one, prev_hash is
 * the previous record's hash, the stored hash is the SHA-256 of the record's canonical form, and (with the private
 * key) its MAC — required from `keyed_from` on, the lowest value any signed anchor states. Every checkpoint's and
 * head's Ed25519 signature is checked and must match the record it names; a store that ends before a head, or
 * differs from it, was truncated, rolled back, rewritten or emptied. A chain that starts after seq 1 must start
 * right after a valid checkpoint and, in the keyed segment, be explained by the newest `audit.pruned` record.
 *
 * @param key the audit key: private (checks MACs) or public only (checks signatures and the SHA-256 chain).
 */
export async function verifyChain(store: AuditStore, key: SigningKey, options: VerifyOptions = {}): Promise<VerifyResult> {
  const pageSize = options.pageSize ?? 1000;
  const heads = [...(options.heads ?? [])].sort((a, b) => a.seq - b.seq);
  const checkpoints = await store.checkpoints();
  const bySeq = new Map(checkpoints.map((c) => [c.seq, c]));
  let count = 0;
  let macs = 0;
  let prev: AuditRecord | undefined;
  let beforePrev: AuditRecord | undefined;
  const result = (firstBad?: { seq: number; reason: string }, unanchored = 0): VerifyResult => ({
    ok: firstBad === undefined,
    records: count,
    checkpoints: checkpoints.length,
    lastSeq: prev?.seq ?? 0,
    heads: heads.length,
    macs,
    unanchored,
    ...(firstBad ? { firstBad } : {}),
  });
  const fail = (seq: number, reason: string) => result({ seq, reason });

  let keyedFrom = Number.POSITIVE_INFINITY;
  for (const cp of checkpoints) {
    if (cp.key_id !== key.keyId || !verifyCheckpoint(key, cp.seq, cp.hash, cp.time, cp.signature, cp.keyed_from)) return fail(cp.seq, 'checkpoint signature invalid');
    if (cp.keyed_from !== undefined) keyedFrom = Math.min(keyedFrom, cp.keyed_from);
  }
  for (const head of heads) {
    if (!verifyHead(key, head)) return fail(head.seq, 'published head signature invalid (not signed by this audit key)');
    keyedFrom = Math.min(keyedFrom, head.keyed_from);
  }
  // The database's own value can only make the check stricter: a lowered one flags legacy records, never hides.
  keyedFrom = Math.min(keyedFrom, (await store.storedKeyedFrom()) ?? Number.POSITIVE_INFINITY);
  const headAt = new Map(heads.map((h) => [h.seq, h]));

  let firstSeq = 0;
  let lastPruned: AuditRecord | undefined;
  let keyedSeen = false;
  let after = 0;
  for (;;) {
    const page = await store.page(after, pageSize);
    if (page.length === 0) break;
    for (const record of page) {
      if (prev === undefined) {
        firstSeq = record.seq;
        if (record.seq !== 1) {
          const anchor = bySeq.get(record.seq - 1);
          if (!anchor) return fail(1, `chain starts at seq ${record.seq} without a signed checkpoint before it (records deleted)`);
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
      if (record.mac === undefined) {
        if (record.seq >= keyedFrom || keyedSeen) return fail(record.seq, 'record has no MAC in the keyed segment (MAC stripped or record forged)');
      } else {
        keyedSeen = true;
        if (key.macKey) {
          if (!macMatches(key.macKey, record, record.mac)) return fail(record.seq, 'record MAC invalid (record forged or rewritten without the audit key)');
          macs++;
        }
      }
      const cp = bySeq.get(record.seq);
      if (cp && cp.hash !== record.hash) return fail(record.seq, 'record does not match its signed checkpoint');
      const head = headAt.get(record.seq);
      if (head && head.hash !== record.hash) return fail(record.seq, 'record does not match the published head (chain rewritten or rolled back)');
      if (record.type === PRUNED_TYPE) lastPruned = record;
      beforePrev = prev;
      prev = record;
      count++;
    }
    after = page.at(-1)!.seq;
  }

  const lastSeq = prev?.seq ?? 0;
  const lastCheckpoint = checkpoints.at(-1);
  if (lastCheckpoint && lastSeq < lastCheckpoint.seq) {
    return fail(lastSeq + 1, `records up to signed checkpoint ${lastCheckpoint.seq} are missing (chain truncated)`);
  }
  const newestHead = heads.at(-1);
  if (newestHead && lastSeq < newestHead.seq) {
    if (lastSeq === 0) return fail(1, `the audit store is empty but a published head names record ${newestHead.seq} (records deleted or tables dropped)`);
    return fail(lastSeq + 1, `records up to the published head ${newestHead.seq} are missing (truncated or rolled back)`);
  }
  if (firstSeq > 1 && firstSeq - 1 >= keyedFrom) {
    const through = lastPruned?.fields['through'];
    if (through !== firstSeq - 1) return fail(1, `records 1–${firstSeq - 1} are gone but retention recorded ${typeof through === 'number' ? `deleting through ${through}` : 'no deletion'} (records deleted)`);
  }
  const anchoredTo = Math.max(lastCheckpoint?.seq ?? 0, newestHead?.seq ?? 0);
  return result(undefined, key.macKey ? 0 : Math.max(0, lastSeq - Math.max(anchoredTo, firstSeq - 1)));
}
