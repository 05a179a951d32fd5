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
    const reply = await this.#request((id) => ({ id, op: 'prune', cutoff, now }));
    if (reply.appended) this.#observe(reply.appended);
    return reply.deleted ?? 0;
  }

  /** Lets the worker finish what it was sent, then closes its database and ends it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Closed before the first await: a write arriving while this runs is refused instead of starting a worker.
    this.#closed = true;
    const worker = this.#worker ?? (await this.#starting?.catch(() => undefined));
    if (worker) await this.#send(worker, (id) => ({ id, op: 'close' })).catch(() => undefined);
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

  async #request(build: (id: number) => WriterRequest): Promise<WriterReply & { ok: true }> {
    if (this.#closed) throw new AuditWriterUnavailable('the audit writer is closed');
    return this.#send(this.#worker ?? (await this.#respawn()), build);
  }

  #send(worker: Worker, build: (id: number) => WriterRequest): Promise<WriterReply & { ok: true }> {
    const id = this.#nextId++;
    const timeoutMs = this.#options.requestTimeoutMs ?? 10_000;
    return new Promise<WriterReply & { ok: true }>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.#pending.delete(id)) return;
        const error = new AuditWriterUnavailable(`the audit writer did not answer within ${timeoutMs} ms`);
        reject(error);
        // Given up on at once (later writes go to a replacement after the back-off), then ended: its transaction is
        // rolled back with its connection, and what else it held fails as on any death.
        if (this.#worker === worker) {
          this.#worker = undefined;
          this.#diedAt = Date.now();
          this.#lastError = error;
        }
        void worker.terminate();
      }, timeoutMs);
      timer.unref();
      const settle = { resolve: (reply: WriterReply & { ok: true }) => (clearTimeout(timer), resolve(reply)), reject: (error: Error) => (clearTimeout(timer), reject(error)) };
      this.#pending.set(id, settle);
      try {
        worker.postMessage(build(id));
      } catch (error) {
        // Fields that cannot be cloned (a function, a symbol): this batch fails, nothing stays pending.
        this.#pending.delete(id);
        clearTimeout(timer);
        throw error;
      }
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
        const pending = this.#pending.get(reply.id);
        if (!pending) return;
        this.#pending.delete(reply.id);
        if (reply.ok) pending.resolve(reply);
        else pending.reject(new Error(`audit write failed: ${reply.error}`));
      });
      const lost = (error: Error) => {
        if (!ready) reject(error);
        if (this.#worker === worker) this.#worker = undefined;
        this.#diedAt = Date.now();
        this.#lastError = error;
        for (const [id, pending] of this.#pending) {
          this.#pending.delete(id);
          pending.reject(new AuditWriterUnavailable('the audit writer stopped before committing', { cause: error }));
        }
      };
      worker.on('error', (error) => lost(error));
      worker.on('exit', (code) => lost(new Error(`the audit writer exited (code ${code})`)));
    }).finally(() => (this.#starting = undefined));
    return this.#starting;
  }
}
