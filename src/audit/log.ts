import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import type { AuditPrivacy } from './privacy.ts';
import type { AuditStore, PendingEntry } from './store.ts';
import { InlineAuditWriter, type AuditWriter } from './writer.ts';
import type { AuditEvent, AuditTrail } from '../pipeline/types.ts';

export type { AuditEvent } from '../pipeline/types.ts';

/**
 * Default least time between the starts of two scheduled group commits. Measured here (SQLite WAL,
 * synchronous=FULL): a commit costs ≈ 110 µs of CPU for one record and ≈ 160 µs for eight, most of it the fsync,
 * so commits back to back under load (batches of 1–3) cost the writer several times the CPU of 1 ms apart.
 */
export const COMMIT_SPACING_MS = 1;

export interface AuditLogOptions {
  /**
   * Group-commit delay. 0 (default): a batch is written at the end of the event-loop turn of its first record, or,
   * while another batch is being committed, as soon as that commit ends (records arriving during a commit share
   * the next one), in both cases no sooner than `commitSpacingMs` after the previous commit started. Above 0: a
   * batch is written this many ms after its first record, and no sooner than the end of the commit in flight.
   */
  readonly flushIntervalMs?: number;
  /**
   * With `flushIntervalMs` 0: the least time between the starts of two scheduled commits (default
   * {@link COMMIT_SPACING_MS}). A commit costs about the same CPU whatever its size (its fsync), so under load this
   * bounds commits per second and grows batches; at low load the last commit is long past and nothing waits.
   */
  readonly commitSpacingMs?: number;
  /** A batch is written at once when it reaches this many records (default 500). */
  readonly maxBatch?: number;
  /** Records waiting beyond this are refused: `append` returns false and `durable()` rejects (default 20000). */
  readonly maxQueue?: number;
  readonly now?: () => number;
  readonly privacy?: AuditPrivacy;
  readonly logger?: Logger;
  /** Who extends the chain (default: the store, in this thread; the gateway uses a ThreadedAuditWriter). */
  readonly writer?: AuditWriter;
}

interface Batch {
  readonly entries: PendingEntry[];
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
  failed: boolean;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => undefined);
  return { entries: [], done, resolve, reject, failed: false };
}

/**
 * The audit trail's queue: group commit off the hot path. `append` only queues (no I/O); a batch goes to the
 * writer a few ms later, one batch in flight at a time, committed in one transaction. Callers that must not
 * acknowledge before the record is on disk await `durable()`, which resolves when every record appended so far is
 * committed (and rejects if that write failed). The queue is bounded (`maxQueue`, counting the batch in flight):
 * beyond it records are refused and counted (`refused`), and `durable()` rejects, so a request whose record must be
 * kept is answered 503 rather than acknowledged.
 */
export class AuditLog implements AuditTrail {
  readonly store: AuditStore;
  readonly #writer: AuditWriter;
  readonly #flushIntervalMs: number;
  readonly #commitSpacingMs: number;
  /** performance.now() when the last scheduled commit started. */
  #lastCommitAt = Number.NEGATIVE_INFINITY;
  readonly #maxBatch: number;
  readonly #maxQueue: number;
  readonly #now: () => number;
  readonly #privacy: AuditPrivacy | undefined;
  readonly #logger: Logger | undefined;
  readonly #listeners = new Set<(count: number) => void>();
  #refused = 0;
  #current = newBatch();
  #queued = 0;
  #writing: Promise<void> = Promise.resolve();
  #lastWrite: Batch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  /** A scheduled batch is being committed (not counting explicit flushes and full batches, which go at once). */
  #committing = false;
  #closed = false;

  constructor(store: AuditStore, options: AuditLogOptions = {}) {
    this.store = store;
    this.#writer = options.writer ?? new InlineAuditWriter(store);
    this.#flushIntervalMs = options.flushIntervalMs ?? 0;
    this.#commitSpacingMs = options.commitSpacingMs ?? COMMIT_SPACING_MS;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxQueue = options.maxQueue ?? 20_000;
    this.#now = options.now ?? Date.now;
    this.#privacy = options.privacy;
    this.#logger = options.logger;
  }

  /** Records refused since start (queue full, log closed, fields rejected): none of them is in the trail. */
  get refused(): number {
    return this.#refused;
  }

  /** The privacy filter in use (pseudonymised IP for correlation in searches). */
  get privacy(): AuditPrivacy | undefined {
    return this.#privacy;
  }

  /**
   * Queues a record. Never throws and never blocks; returns false when the record was refused (log closed or the
   * queue is full), in which case `durable()` rejects until the queue drains.
   */
  append(event: AuditEvent): boolean {
    if (this.#closed || this.#queued >= this.#maxQueue) {
      this.#current.failed = true;
      this.#refused++;
      this.#logger?.error({ type: event.type }, 'audit record refused: log closed or queue full');
      return false;
    }
    let fields: Readonly<Record<string, unknown>>;
    try {
      fields = this.#privacy ? this.#privacy.apply(event.fields) : event.fields;
    } catch (error) {
      this.#logger?.error({ type: event.type, err: errorForLog(error) }, 'audit record fields rejected');
      this.#current.failed = true;
      this.#refused++;
      return false;
    }
    this.#current.entries.push({ time: new Date(this.#now()).toISOString(), type: event.type, fields });
    this.#queued++;
    if (this.#current.entries.length >= this.#maxBatch) this.#flushNow();
    else this.#schedule();
    return true;
  }

  /** Arms the group commit of the current batch, unless a commit is in flight (its end writes the batch). */
  #schedule(afterCommit = false): void {
    if (this.#committing || this.#timer || this.#immediate) return;
    if (this.#flushIntervalMs > 0) {
      // Records that waited for the commit in flight have had their delay: they go as it ends.
      if (afterCommit) this.#commitScheduled();
      else this.#timer = setTimeout(() => this.#commitScheduled(), this.#flushIntervalMs);
      return;
    }
    const wait = this.#lastCommitAt + this.#commitSpacingMs - performance.now();
    if (wait > 0) this.#timer = setTimeout(() => this.#commitScheduled(), wait);
    else if (afterCommit) this.#commitScheduled();
    else this.#immediate = setImmediate(() => this.#commitScheduled());
  }

  #commitScheduled(): void {
    const batch = this.#current;
    this.#flushNow();
    if (batch.entries.length === 0) return;
    this.#committing = true;
    this.#lastCommitAt = performance.now();
    void batch.done
      .catch(() => undefined)
      .then(() => {
        this.#committing = false;
        if (this.#current.entries.length > 0) this.#schedule(true);
      });
  }

  /** Resolves when every record appended so far is durable; rejects if any of them could not be written. */
  durable(): Promise<void> {
    const current = this.#current;
    if (current.failed) return Promise.reject(new Error('audit record refused'));
    if (current.entries.length > 0) return current.done;
    return this.#lastWrite?.done ?? Promise.resolve();
  }

  /** Writes everything queued now and resolves when it is durable. */
  flush(): Promise<void> {
    this.#flushNow();
    return this.#lastWrite?.done ?? Promise.resolve();
  }

  /** Subscribes to commits (the number of records each added). Listeners must not throw or block. */
  onCommitted(listener: (count: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Flushes, refuses further records and closes the writer. Does not close the store's database (its owner does). */
  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.#closed = true;
    await this.#writing;
    await this.#writer.close();
  }

  #flushNow(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    const batch = this.#current;
    if (batch.entries.length === 0) {
      if (batch.failed) this.#current = newBatch();
      return;
    }
    this.#current = newBatch();
    this.#lastWrite = batch;
    this.#writing = this.#writing.then(async () => {
      try {
        const appended = await this.#writer.append(batch.entries);
        this.#queued -= batch.entries.length;
        if (batch.failed) batch.reject(new Error('audit record refused'));
        else batch.resolve();
        for (const listener of this.#listeners) {
          try {
            listener(appended?.count ?? 0);
          } catch {
            // listeners are best-effort observers
          }
        }
      } catch (error) {
        this.#queued -= batch.entries.length;
        this.#logger?.error({ records: batch.entries.length, err: errorForLog(error) }, 'audit write failed');
        batch.reject(error);
      }
    });
  }
}
