import { Worker } from 'node:worker_threads';
import type { DbOptions } from './db.ts';
import type { SigningKey } from './signing.ts';
import type { AuditStore, PendingEntry } from './store.ts';

/** What a committed append left at the end of the chain. */
export interface AuditAppended {
  readonly seq: number;
  readonly hash: string;
  readonly count: number;
}

/**
 * Extends the audit chain: links, MACs and commits batches (and retention's prune, which appends too). Either in
 * the calling thread (`InlineAuditWriter`) or in a worker thread that owns its own database connection
 * (`ThreadedAuditWriter`), so the hashing and the commit's fsync never stop the gateway's event loop.
 */
export interface AuditWriter {
  /** Resolves once the entries are durable, with the new tail (undefined for no entries). */
  append(entries: readonly PendingEntry[]): Promise<AuditAppended | undefined>;
  /** Retention (AuditStore.prune) by the writer that owns the chain. */
  prune(cutoff: string, now: number): Promise<number>;
  close(): Promise<void>;
}

/** The writer in the calling thread: the store itself (CLI commands, `:memory:` databases, tests). */
export class InlineAuditWriter implements AuditWriter {
  readonly #store: AuditStore;
  constructor(store: AuditStore) {
    this.#store = store;
  }
  async append(entries: readonly PendingEntry[]): Promise<AuditAppended | undefined> {
    const records = await this.#store.append(entries);
    const last = records.at(-1);
    return last ? { seq: last.seq, hash: last.hash, count: records.length } : undefined;
  }
  prune(cutoff: string, now: number): Promise<number> {
    return this.#store.prune(cutoff, now);
  }
  async close(): Promise<void> {}
}

export interface ThreadedAuditWriterOptions {
  readonly db: DbOptions;
  /** The audit key with its private half (KeyObjects are cloned into the worker; nothing is written anywhere). */
  readonly key: SigningKey;
  readonly checkpointEvery: number;
  /** The keyed_from this gateway settled on at start (store and published head); the worker lowers its own to it. */
  readonly keyedFrom: number;
  /** Called on the gateway's thread after each committed append or prune with the new tail. Must not throw. */
  readonly onAppended?: (tail: { readonly seq: number; readonly hash: string }, count: number) => void;
  /** A worker that died is replaced on the next write, at most this often (ms; default 1000). */
  readonly respawnAfterMs?: number;
  /**
   * Longest wait for the worker's answer to one request (ms; default 10000). Past it the request fails (nothing of
   * it is acknowledged) and the worker is ended and replaced like one that died: a write stuck on a lock or a hung
   * disk never holds `sync` requests, the queue or a stop for longer.
   */
  readonly requestTimeoutMs?: number;
  /** The same for a retention prune, which deletes in one transaction (ms; default 600000). */
  readonly pruneTimeoutMs?: number;
}

/** Messages to the worker. */
export type WriterRequest =
  | { readonly id: number; readonly op: 'append'; readonly entries: readonly PendingEntry[] }
  | { readonly id: number; readonly op: 'prune'; readonly cutoff: string; readonly now: number }
  | { readonly id: number; readonly op: 'close' };

/** Messages from the worker: `id` 0 is the start-up report. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly appended?: AuditAppended; readonly deleted?: number }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** What the worker is started with (`workerData`). */
export interface WriterWorkerData {
  readonly db: DbOptions;
  /** A plain object of KeyObjects, which structured clone carries into the worker. */
  readonly key: SigningKey;
  readonly checkpointEvery: number;
  readonly keyedFrom: number;
}

/** The audit writer had to give up on a write: the worker could not be started, died, or the writer is closed. */
export class AuditWriterUnavailable extends Error {}

interface Pending {
  resolve(reply: WriterReply & { ok: true }): void;
  reject(error: Error): void;
  /** The worker it was sent to: a worker's death fails only its own requests. */
  readonly worker: Worker;
  /** How long the worker may take over it, counted from when it is the oldest request that worker holds. */
  readonly timeoutMs: number;
}

/**
 * The audit writer in a worker thread. Requests are answered in order (the worker handles one at a time, as the
 * chain needs); the caller (AuditLog) keeps one batch in flight and bounds what waits, so nothing here queues
 * without limit. A worker that dies fails every request in flight (their records are not acknowledged: fail
 * closed) and is replaced on a later write, no sooner than `respawnAfterMs` after the death; writes in between fail.
 */
export class ThreadedAuditWriter implements AuditWriter {
  readonly #options: ThreadedAuditWriterOptions;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #starting: Promise<Worker> | undefined;
  #nextId = 1;
  #diedAt = Number.NEGATIVE_INFINITY;
  #lastError: Error | undefined;
  #closed = false;
  /** The deadline of the oldest pending request (the worker answers in order, so only its clock runs). */
  #deadline: { readonly id: number; readonly timer: NodeJS.Timeout } | undefined;

  private constructor(options: ThreadedAuditWriterOptions) {
    this.#options = options;
  }

  /**
   * Starts the worker and waits until it has opened the database.
   * @throws Error when it cannot (start-up stops: the trail would not be kept).
   */
  static async start(options: ThreadedAuditWriterOptions): Promise<ThreadedAuditWriter> {
    const writer = new ThreadedAuditWriter(options);
    await writer.#spawn();
    return writer;
  }

  async append(entries: readonly PendingEntry[]): Promise<AuditAppended | undefined> {
    if (entries.length === 0) return undefined;
    const reply = await this.#request((id) => ({ id, op: 'append', entries }));
    if (reply.appended) this.#observe(reply.appended);
    return reply.appended;
  }

  async prune(cutoff: string, now: number): Promise<number> {
    const reply = await this.#request((id) => ({ id, op: 'prune', cutoff, now }), this.#options.pruneTimeoutMs ?? 600_000);
    if (reply.appended) this.#observe(reply.appended);
    return reply.deleted ?? 0;
  }

  /** Lets the worker finish what it was sent, then closes its database and ends it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Closed before the first await: a write arriving while this runs is refused instead of starting a worker.
    this.#closed = true;
    const worker = this.#worker ?? (await this.#starting?.catch(() => undefined));
    if (worker) await this.#send(worker, (id) => ({ id, op: 'close' }), this.#requestTimeout()).catch(() => undefined);
    await worker?.terminate();
  }

  /**
   * Ends the worker now, without finishing what it was sent: the requests in flight fail (nothing of theirs is
   * acknowledged; a transaction the worker had open is rolled back by SQLite/PostgreSQL). For a stop that cannot
   * wait any longer; a later write starts a new worker (after `respawnAfterMs`).
   */
  async terminate(): Promise<void> {
    await this.#worker?.terminate();
  }

  #observe(appended: AuditAppended): void {
    try {
      this.#options.onAppended?.({ seq: appended.seq, hash: appended.hash }, appended.count);
    } catch {
      // an observer (the head publisher) never fails a committed append
    }
  }

  #requestTimeout(): number {
    return this.#options.requestTimeoutMs ?? 10_000;
  }

  async #request(build: (id: number) => WriterRequest, timeoutMs = this.#requestTimeout()): Promise<WriterReply & { ok: true }> {
    if (this.#closed) throw new AuditWriterUnavailable('the audit writer is closed');
    return this.#send(this.#worker ?? (await this.#respawn()), build, timeoutMs);
  }

  /** Settles one pending request and moves the deadline on to the next oldest. */
  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    this.#armDeadline();
    return pending;
  }

  /**
   * Runs the clock of the oldest pending request only: one queued behind a long request (a prune) starts counting
   * when the worker can start on it. Past it, the request fails (nothing of it is acknowledged), the worker is
   * given up on at once (later writes go to a replacement after the back-off) and ended: its transaction is rolled
   * back with its connection, and what else it held fails as on any death.
   */
  #armDeadline(): void {
    const [oldest] = this.#pending.keys();
    if (this.#deadline?.id === oldest) return;
    if (this.#deadline) clearTimeout(this.#deadline.timer);
    this.#deadline = undefined;
    if (oldest === undefined) return;
    const { worker, timeoutMs } = this.#pending.get(oldest)!;
    const timer = setTimeout(() => {
      this.#deadline = undefined;
      const pending = this.#settle(oldest);
      if (!pending) return;
      const error = new AuditWriterUnavailable(`the audit writer did not answer within ${timeoutMs} ms`);
      pending.reject(error);
      if (this.#worker === worker) {
        this.#worker = undefined;
        this.#diedAt = Date.now();
        this.#lastError = error;
      }
      void worker.terminate();
    }, timeoutMs);
    timer.unref();
    this.#deadline = { id: oldest, timer };
  }

  #send(worker: Worker, build: (id: number) => WriterRequest, timeoutMs: number): Promise<WriterReply & { ok: true }> {
    const id = this.#nextId++;
    return new Promise<WriterReply & { ok: true }>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker, timeoutMs });
      try {
        worker.postMessage(build(id));
      } catch (error) {
        // Fields that cannot be cloned (a function, a symbol): this batch fails, nothing stays pending.
        this.#settle(id);
        throw error;
      }
      this.#armDeadline();
    });
  }

  #respawn(): Promise<Worker> {
    const wait = this.#diedAt + (this.#options.respawnAfterMs ?? 1000) - Date.now();
    if (wait > 0) return Promise.reject(new AuditWriterUnavailable('the audit writer died and is not replaced yet', { cause: this.#lastError }));
    return this.#spawn();
  }

  #spawn(): Promise<Worker> {
    this.#starting ??= new Promise<Worker>((resolve, reject) => {
      const { db, key, checkpointEvery, keyedFrom } = this.#options;
      const workerData: WriterWorkerData = { db, key, checkpointEvery, keyedFrom };
      const file = import.meta.url.endsWith('.ts') ? './writer-worker.ts' : './writer-worker.js';
      const worker = new Worker(new URL(file, import.meta.url), { workerData });
      let ready = false;
      worker.on('message', (reply: WriterReply) => {
        if (reply.id === 0) {
          if (reply.ok) {
            ready = true;
            this.#worker = worker;
            resolve(worker);
          } else {
            reject(new Error(`audit writer: ${reply.error}`));
            void worker.terminate();
          }
          return;
        }
        const pending = this.#settle(reply.id);
        if (!pending) return;
        if (reply.ok) pending.resolve(reply);
        else pending.reject(new Error(`audit write failed: ${reply.error}`));
      });
      const lost = (error: Error) => {
        if (!ready) reject(error);
        if (this.#worker === worker) this.#worker = undefined;
        this.#diedAt = Date.now();
        this.#lastError = error;
        for (const [id, pending] of this.#pending) {
          if (pending.worker !== worker) continue;
          this.#settle(id);
          pending.reject(new AuditWriterUnavailable('the audit writer stopped before committing', { cause: error }));
        }
      };
      worker.on('error', (error) => lost(error));
      worker.on('exit', (code) => lost(new Error(`the audit writer exited (code ${code})`)));
    }).finally(() => (this.#starting = undefined));
    return this.#starting;
  }
}
