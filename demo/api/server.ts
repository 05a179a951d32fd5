/**
 * The deliberately naive demo API as a process: `node demo/api/server.ts` listens on 127.0.0.1:3000
 * (`DEMO_API_PORT` overrides) with its database in demo/data/api.db.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { baseUrl, runAsScript } from '../http.ts';
import { openDemoDb } from './db.ts';
import { createRepo } from './repo.ts';
import { createDemoHandler } from './routes.ts';
import { seedDemoData } from './seed.ts';
import { attachNotifications } from './notifications.ts';

/** Options for {@link startDemoApi}. */
export interface DemoApiOptions {
  /** TCP port; 0 (the default) picks an ephemeral port. */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** SQLite file path; default `':memory:'` (a fresh database per call). */
  dbPath?: string;
}

/** A running demo API. */
export interface DemoApi {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  port: number;
  /** Stops listening, drops open connections (pending /slow requests included) and closes the database. */
  close(): Promise<void>;
}

/**
 * Starts the naive demo API: opens and seeds the database (idempotently), then listens.
 * Every response carries `Server: demo-api/1.0 (Node.js)` and `X-Powered-By: DemoAPI` banners.
 * @throws when the port is taken or the database cannot be opened.
 */
export async function startDemoApi(opts: DemoApiOptions = {}): Promise<DemoApi> {
  const host = opts.host ?? '127.0.0.1';
  const db = openDemoDb(opts.dbPath ?? ':memory:');
  try {
    await seedDemoData(db);
  } catch (err) {
    db.close();
    throw err;
  }
  const shutdown = new AbortController();
  const handle = createDemoHandler(createRepo(db), shutdown.signal);
  const server = createServer((req, res) => {
    res.setHeader('Server', 'demo-api/1.0 (Node.js)');
    res.setHeader('X-Powered-By', 'DemoAPI');
    void handle(req, res);
  });
  const closeSockets = attachNotifications(server);

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      db.close();
      reject(err);
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl(host, port),
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        shutdown.abort();
        closeSockets();
        server.close((err) => {
          db.close();
          if (err) reject(err);
          else resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function main(): Promise<{ close(): Promise<void> }> {
  const port = Number(process.env['DEMO_API_PORT'] ?? 3000);
  const dbPath = fileURLToPath(new URL('../data/api.db', import.meta.url));
  const api = await startDemoApi({ port, host: '127.0.0.1', dbPath });
  console.log(`demo API (deliberately insecure) listening on ${api.url} (db ${dbPath})`);
  return api;
}

if (import.meta.main) runAsScript(main);
