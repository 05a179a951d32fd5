import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { signCheckpoint, verifyCheckpoint, type SigningKey } from './signing.ts';

/**
 * A signed head: the newest committed record (seq, hash) at `time`, and the seq from which records carry a MAC,
 * signed with the audit key. Published outside the database (head file, log, admin API) so `audit verify --head`
 * can tell a truncated, rolled-back, rewritten or emptied store from an honest one.
 */
export interface SignedHead {
  readonly v: 2;
  readonly seq: number;
  readonly hash: string;
  /** ISO 8601 UTC when it was signed. */
  readonly time: string;
  readonly keyed_from: number;
  readonly key_id: string;
  readonly signature: string;
}

/** Signs the head of a chain whose newest record is `seq` with hash `hash`. Throws without the private key. */
export function signHead(key: SigningKey, seq: number, hash: string, time: string, keyedFrom: number): SignedHead {
  return { v: 2, seq, hash, time, keyed_from: keyedFrom, key_id: key.keyId, signature: signCheckpoint(key, seq, hash, time, keyedFrom, 'head') };
}

/** Whether a head was signed by `key` (its key id and Ed25519 signature). */
export function verifyHead(key: SigningKey, head: SignedHead): boolean {
  return head.key_id === key.keyId && verifyCheckpoint(key, head.seq, head.hash, head.time, head.signature, head.keyed_from, 'head');
}

/**
 * Parses a published head (the JSON the head file, the log line's `auditHead` and `GET /admin/v1/audit/head`
 * carry). Checks shape only — the signature is checked by `verifyHead`.
 * @throws Error naming the first bad member.
 */
export function parseHead(text: string): SignedHead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the audit head is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the audit head must be a JSON object');
  const h = value as Record<string, unknown>;
  const head = 'auditHead' in h && typeof h['auditHead'] === 'object' ? (h['auditHead'] as Record<string, unknown>) : h;
  const seqOk = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
  if (head['v'] !== 2) throw new Error('the audit head: v must be 2');
  if (!seqOk(head['seq'])) throw new Error('the audit head: seq must be a positive integer');
  if (!seqOk(head['keyed_from'])) throw new Error('the audit head: keyed_from must be a positive integer');
  if (typeof head['hash'] !== 'string' || !/^[0-9a-f]{64}$/.test(head['hash'])) throw new Error('the audit head: hash must be 64 hex digits');
  if (typeof head['time'] !== 'string' || Number.isNaN(Date.parse(head['time']))) throw new Error('the audit head: time must be an ISO 8601 time');
  if (typeof head['key_id'] !== 'string' || !/^[0-9a-f]{16}$/.test(head['key_id'])) throw new Error('the audit head: key_id must be 16 hex digits');
  if (typeof head['signature'] !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(head['signature'])) throw new Error('the audit head: signature must be base64url');
  return { v: 2, seq: head['seq'] as number, hash: head['hash'], time: head['time'], keyed_from: head['keyed_from'] as number, key_id: head['key_id'], signature: head['signature'] };
}

/** Reads a head file, or undefined when there is none. @throws Error when it exists but does not parse. */
export function readHeadFile(path: string): SignedHead | undefined {
  if (!existsSync(path)) return undefined;
  return parseHead(readFileSync(path, 'utf8'));
}

export interface HeadPublisherOptions {
  /** The private audit key. */
  readonly key: SigningKey;
  /** The seq from which records carry a MAC (the store's). */
  readonly keyedFrom: () => number;
  /** The head file, rewritten atomically (temp file + rename, mode 0600) at each new head. */
  readonly file?: string;
  /** A new head at most this often while records are committed, and within this long of the last one (ms, default 1000). */
  readonly intervalMs?: number;
  /** …or as soon as this many records are not yet covered by a head (default 1000), but not within 100 ms of the last. */
  readonly every?: number;
  /** The head goes to the log (info, `auditHead`) at most this often (ms, default 60000), and at close. */
  readonly logIntervalMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/**
 * Signs the chain head in batches — never per record: when `intervalMs` has passed since the last head (a timer
 * covers the last records of a burst) or `every` records are uncovered — and publishes it: kept in memory for the
 * admin API, written to the head file, logged now and then.
 */
export class HeadPublisher {
  readonly #key: SigningKey;
  readonly #keyedFrom: () => number;
  readonly #file: string | undefined;
  readonly #intervalMs: number;
  readonly #every: number;
  readonly #logIntervalMs: number;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  #latest: { seq: number; hash: string } | undefined;
  #head: SignedHead | undefined;
  #uncovered = 0;
  #signedAt = Number.NEGATIVE_INFINITY;
  #loggedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #pendingWrite: SignedHead | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;

  constructor(options: HeadPublisherOptions) {
    this.#key = options.key;
    this.#keyedFrom = options.keyedFrom;
    this.#file = options.file;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#every = options.every ?? 1000;
    this.#logIntervalMs = options.logIntervalMs ?? 60_000;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** The newest signed head, or undefined before the first. */
  current(): SignedHead | undefined {
    return this.#head;
  }

  /**
   * Starts from a head published earlier and found to match the store at start: `current()` until the next commit
   * is covered by a new one. Ignored once a head was signed.
   */
  seed(head: SignedHead): void {
    if (this.#head || this.#latest) return;
    this.#head = head;
    this.#latest = { seq: head.seq, hash: head.hash };
  }

  /** Notes a committed append (`tail` is the chain's new newest record, `count` records were added). */
  observe(tail: { readonly seq: number; readonly hash: string }, count: number): void {
    if (this.#closed || (this.#latest && tail.seq <= this.#latest.seq)) return;
    this.#latest = { seq: tail.seq, hash: tail.hash };
    this.#uncovered += count;
    const since = this.#now() - this.#signedAt;
    if (since >= this.#intervalMs || (this.#uncovered >= this.#every && since >= 100)) this.#publish(false);
    else this.#timer ??= setTimeout(() => this.#publish(false), Math.max(1, this.#intervalMs - since)).unref();
  }

  /** Signs and publishes a head covering everything observed (if not covered yet) and waits for the file write. */
  async flush(): Promise<void> {
    if (this.#latest && this.#latest.seq !== this.#head?.seq) this.#publish(true);
    await this.#writing;
  }

  /** Flushes, logs the final head and stops. */
  async close(): Promise<void> {
    await this.flush();
    if (this.#head && this.#loggedAt !== this.#signedAt) this.#logger?.info({ auditHead: this.#head }, 'audit head');
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #publish(forceLog: boolean): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const latest = this.#latest;
    if (!latest) return;
    const now = this.#now();
    let head: SignedHead;
    try {
      head = signHead(this.#key, latest.seq, latest.hash, new Date(now).toISOString(), this.#keyedFrom());
    } catch (error) {
      // Runs from a timer too: an exception here must not take the process down; the next commit retries.
      this.#logger?.error({ err: errorForLog(error) }, 'audit head could not be signed');
      return;
    }
    this.#head = head;
    this.#signedAt = now;
    this.#uncovered = 0;
    if (!forceLog && now - this.#loggedAt >= this.#logIntervalMs) {
      this.#loggedAt = now;
      this.#logger?.info({ auditHead: head }, 'audit head');
    }
    if (this.#file) this.#write(head);
  }

  /** Coalesced: one write in flight, then the newest head waiting, never a queue. */
  #write(head: SignedHead): void {
    this.#pendingWrite = head;
    if (this.#writing) return;
    const file = this.#file!;
    const tmp = `${file}.${process.pid}.tmp`;
    this.#writing = (async () => {
      while (this.#pendingWrite) {
        const next = this.#pendingWrite;
        this.#pendingWrite = undefined;
        try {
          await mkdir(dirname(file), { recursive: true, mode: 0o700 });
          await writeFile(tmp, JSON.stringify(next) + '\n', { mode: 0o600 });
          await rename(tmp, file);
        } catch (error) {
          this.#logger?.error({ err: errorForLog(error) }, 'audit head file could not be written');
        }
      }
      this.#writing = undefined;
    })();
  }
}
