import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import pg from 'pg';
import { inTransaction } from '../store/postgres/transaction.ts';

/** A row as returned by either backend. */
export type Row = Record<string, unknown>;

/**
 * The small SQL surface the audit trail and the incident store need, over SQLite (`node:sqlite`) or PostgreSQL
 * (`pg`). SQL is written once with `$1…$n` placeholders (SQLite receives them as `?1…?n`). `tx` runs a function
 * in one transaction; inside it, use the `Db` passed to the function.
 */
export interface Db {
  readonly kind: 'sqlite' | 'postgres';
  exec(sql: string): Promise<void>;
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs `fn` in a transaction. `lockKey` (PostgreSQL) takes a transaction-scoped advisory lock first. */
  tx<T>(fn: (db: Db) => Promise<T>, lockKey?: number): Promise<T>;
  close(): Promise<void>;
}

export interface DbOptions {
  readonly kind: 'sqlite' | 'postgres';
  /** SQLite file (its directory is created, 0700). */
  readonly path?: string;
  /** PostgreSQL connection string. */
  readonly url?: string;
  /** PostgreSQL schema to use (created when absent); default `public`. */
  readonly schema?: string;
  /**
   * SQLite, when another connection holds the write lock: `wait` blocks in SQLite's busy handler (up to 5 s; right
   * for a thread of its own or a CLI command), `yield` retries with short asynchronous back-offs for as long, so
   * the gateway's event loop keeps serving while the audit writer thread commits. Default `wait`.
   */
  readonly onBusy?: 'wait' | 'yield';
}

/** How long SQLite waits for another connection's write lock, either way. */
const BUSY_WAIT_MS = 5000;

/** Opens a database: SQLite in WAL mode with `synchronous=FULL` (every commit fsynced), or a small pg pool. */
export async function openDb(options: DbOptions): Promise<Db> {
  if (options.kind === 'sqlite') {
    if (!options.path) throw new Error('sqlite path is required');
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    // The busy timeout is set at open: switching to WAL needs a lock another process may hold while it starts too.
    const db = new DatabaseSync(options.path, { timeout: BUSY_WAIT_MS });
    // secure_delete: what a delete or update frees (pruned records, incidents rewritten encrypted) is zeroed.
    db.exec(`PRAGMA busy_timeout=${BUSY_WAIT_MS}; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;`);
    const yieldOnBusy = options.onBusy === 'yield';
    if (yieldOnBusy) db.exec('PRAGMA busy_timeout=0');
    return new SqliteDb(db, yieldOnBusy);
  }
  if (!options.url) throw new Error('postgres url is required');
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('invalid postgres schema name');
  const pool = new pg.Pool({ connectionString: options.url, max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10_000 });
  pool.on('connect', (client) => void client.query(`SET search_path TO "${schema}"`).catch(() => undefined));
  pool.on('error', () => undefined);
  if (schema !== 'public') await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  return new PgDb(pool, schema);
}

/** SQLITE_BUSY, also in its extended forms (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT). */
const isBusy = (error: unknown): boolean => {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && (code & 0xff) === 5;
};

const toSqlite = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

class SqliteDb implements Db {
  readonly kind = 'sqlite' as const;
  readonly #db: DatabaseSync;
  #chain: Promise<unknown> = Promise.resolve();
  /** Prepared statements by SQL text (bounded): preparing per call was a visible cost of every audit batch. */
  readonly #statements = new Map<string, StatementSync>();
  readonly #yieldOnBusy: boolean;
  constructor(db: DatabaseSync, yieldOnBusy: boolean) {
    this.#db = db;
    this.#yieldOnBusy = yieldOnBusy;
  }
  /** Runs `fn`; in `yield` mode a busy database is retried after short sleeps (doubling to 50 ms) for BUSY_WAIT_MS. */
  async #whenFree<T>(fn: () => T): Promise<T> {
    if (!this.#yieldOnBusy) return fn();
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return fn();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(toSqlite(sql));
      if (this.#statements.size >= 512) this.#statements.delete(this.#statements.keys().next().value!);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
  exec(sql: string): Promise<void> {
    return this.#whenFree(() => this.#db.exec(sql));
  }
  all(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#whenFree(() => this.#prepare(sql).all(...(params as never[])) as Row[]);
  }
  run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.#whenFree(() => Number(this.#prepare(sql).run(...(params as never[])).changes));
  }
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    // Serialise transactions on this connection: the queue keeps one BEGIN…COMMIT at a time.
    const next = this.#chain.then(async () => {
      // The write lock is taken here; once held, the statements inside never wait for another connection.
      await this.#whenFree(() => this.#db.exec('BEGIN IMMEDIATE'));
      try {
        const result = await fn(this);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }
  async close(): Promise<void> {
    await this.#chain;
    if (this.#db.isOpen) this.#db.close();
  }
}

/** How long a transaction waits for its advisory lock before it fails (PostgreSQL `lock_timeout`). */
export const LOCK_TIMEOUT_MS = 5000;

class PgDb implements Db {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
  }
  async exec(sql: string): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query(`SET search_path TO "${this.#schema}"`);
      await client.query(sql);
    } finally {
      client.release();
    }
  }
  async all(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return (await this.#pool.query(sql, params as unknown[])).rows as Row[];
  }
  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.#pool.query(sql, params as unknown[])).rowCount ?? 0;
  }
  tx<T>(fn: (db: Db) => Promise<T>, lockKey?: number): Promise<T> {
    return inTransaction(this.#pool, async (client) => {
      await client.query(`SET search_path TO "${this.#schema}"`);
      if (lockKey !== undefined) {
        // A lock held elsewhere fails this transaction after a while instead of holding the writer for ever.
        await client.query("SELECT set_config('lock_timeout', $1, true)", [`${LOCK_TIMEOUT_MS}ms`]);
        // One key for every schema, as every released version takes it: a per-schema key would let an instance of an
        // older version and a newer one extend the same chain at once during a rolling upgrade. Gateways on other
        // schemas of the database take turns with this one; lock_timeout and the writer's deadline bound the wait.
        await client.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
      }
      const scoped: Db = {
        kind: 'postgres',
        exec: async (sql) => void (await client.query(sql)),
        all: async (sql, params = []) => (await client.query(sql, params as unknown[])).rows as Row[],
        run: async (sql, params = []) => (await client.query(sql, params as unknown[])).rowCount ?? 0,
        tx: (inner) => inner(scoped),
        close: async () => undefined,
      };
      return fn(scoped);
    });
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
