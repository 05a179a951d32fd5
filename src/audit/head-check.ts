import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseHead, verifyHead, type SignedHead } from './head.ts';
import type { SigningKey } from './signing.ts';
import type { AuditStore } from './store.ts';

/**
 * Why a start-up rejected the head file: the store ends before the head (`truncated`), holds no record at all
 * (`emptied`), holds another record at the head's seq or none there (`diverged`), or the file is not a head signed by
 * this audit key (`unverifiable`).
 */
export type HeadRejection = 'truncated' | 'emptied' | 'diverged' | 'unverifiable';

const REJECTIONS: readonly HeadRejection[] = ['truncated', 'emptied', 'diverged', 'unverifiable'];

/**
 * The audit state reported on /readyz: `ok`, `behind_published_head` (a rejected head file says the store held
 * more, or other records, than it holds now) or `unverifiable_head` (only head files that did not verify).
 */
export type HeadCheckStatus = 'ok' | 'behind_published_head' | 'unverifiable_head';

/** What the start-up check of the head file found. */
export interface HeadCheck {
  /** The head file read at start when it verified (accepted or rejected as `truncated`/`emptied`/`diverged`). */
  readonly published?: SignedHead;
  /** Why this start rejected the head file; absent when it was accepted or there was none. */
  readonly rejection?: HeadRejection;
  /** Where this start moved the rejected head file. */
  readonly rejectedFile?: string;
  /** A sentence for the log naming what differs. */
  readonly message?: string;
  /** The store's newest record at start (seq 0: empty). */
  readonly storeSeq: number;
}

/**
 * Rejected head files beside `headFile` (`<name>.<time>.<reason>.rejected.json`) that no operator has moved away
 * yet, oldest first. Read from the directory each time, so moving a file away acknowledges it without a restart.
 */
export function unacknowledgedRejections(headFile: string): { readonly file: string; readonly reason: HeadRejection }[] {
  const dir = dirname(headFile);
  const stem = basename(headFile).replace(/\.json$/, '');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .flatMap((name) => {
      if (!name.startsWith(`${stem}.`) || !name.endsWith('.rejected.json')) return [];
      const reason = name.slice(0, -'.rejected.json'.length).split('.').at(-1) as HeadRejection;
      return REJECTIONS.includes(reason) ? [{ file: join(dir, name), reason }] : [];
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

/** The readiness value for the unacknowledged rejections of `headFile`. */
export function headStatus(headFile: string): HeadCheckStatus {
  const pending = unacknowledgedRejections(headFile);
  if (pending.length === 0) return 'ok';
  return pending.some((p) => p.reason !== 'unverifiable') ? 'behind_published_head' : 'unverifiable_head';
}

/**
 * Compares the head file this trail published last with the store, at start, before anything is appended. The
 * store must still hold the head's record with the head's hash (it may hold more: other instances, the CLI, or a
 * head file written just before a crash). When it does not — truncation, rollback, a rewritten or emptied store —
 * or the file is not a head signed by `key`, the file is moved aside as `<name>.<time>.<reason>.rejected.json`
 * (never overwritten: it is the evidence `audit verify --head` needs) and the rejection is returned; the caller
 * logs it and publishes a new head for what the store holds. A head whose record retention has since deleted
 * cannot be compared and is accepted (`audit verify` still checks the retained chain).
 *
 * @param now epoch ms, for the rejected file's name.
 */
export async function checkPublishedHead(store: AuditStore, key: SigningKey, headFile: string, now: number): Promise<HeadCheck> {
  const tail = (await store.tail(1))[0];
  const storeSeq = tail?.seq ?? 0;
  if (!existsSync(headFile)) return { storeSeq };
  let published: SignedHead | undefined;
  let found: { rejection: HeadRejection; message: string } | undefined;
  try {
    published = parseHead(readFileSync(headFile, 'utf8'));
    if (!verifyHead(key, published)) {
      published = undefined;
      found = { rejection: 'unverifiable', message: 'the audit head file is not signed by this audit key (forged, or the key was changed)' };
    }
  } catch (error) {
    found = { rejection: 'unverifiable', message: `the audit head file does not parse: ${(error as Error).message}` };
  }
  if (published && !found) found = await compare(store, published, storeSeq);
  if (!found) return { published: published!, storeSeq };
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
  const rejectedFile = join(dirname(headFile), `${basename(headFile).replace(/\.json$/, '')}.${stamp}.${found.rejection}.rejected.json`);
  try {
    await rename(headFile, rejectedFile);
  } catch (error) {
    // Writing a new head over it would destroy the evidence: refuse to start instead.
    throw new Error(`${found.message}, and the head file ${headFile} could not be moved aside to ${rejectedFile}`, { cause: error });
  }
  return { ...(published ? { published } : {}), rejection: found.rejection, rejectedFile, message: found.message, storeSeq };
}

async function compare(store: AuditStore, head: SignedHead, storeSeq: number): Promise<{ rejection: HeadRejection; message: string } | undefined> {
  if (storeSeq === 0) return { rejection: 'emptied', message: `the audit store is empty but the published head names record ${head.seq} (records deleted or tables dropped)` };
  if (storeSeq < head.seq) return { rejection: 'truncated', message: `the audit store ends at record ${storeSeq} but the published head names record ${head.seq} (truncated or rolled back)` };
  const at = (await store.page(head.seq - 1, 1))[0];
  if (at?.seq === head.seq) {
    return at.hash === head.hash ? undefined : { rejection: 'diverged', message: `record ${head.seq} differs from the published head (chain rewritten or rolled back and extended)` };
  }
  const first = (await store.page(0, 1))[0];
  // Retention deletes whole prefixes: a head older than the retained chain cannot be compared, only a hole can.
  if (first && first.seq > head.seq) return undefined;
  return { rejection: 'diverged', message: `record ${head.seq} named by the published head is missing (records deleted)` };
}
