import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { SpecError } from '../openapi/load.ts';
import { Gateway } from '../server/gateway.ts';

export interface StartOptions {
  /**
   * Gateway processes sharing the listeners (node:cluster). 1 (the default) runs the gateway in this process;
   * N > 1 makes this process a supervisor that forks N workers. Each worker keeps its own in-memory state
   * (rate-limit counters, caches): use `counters: { kind: redis }` for limits that are exact across workers.
   */
  readonly workers?: number;
}

/** Parses `--workers`: a positive integer up to 256, or `auto` (one per available CPU). Throws on anything else. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  if (value === 'auto') return availableParallelism();
  if (!/^[0-9]{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 256) {
    throw new Error(`--workers: expected a number from 1 to 256 or "auto", got "${value}"`);
  }
  return Number(value);
}

/** `rampart start`: runs until SIGTERM/SIGINT (graceful drain); SIGHUP reloads the config. */
export async function runStart(configFile: string, options: StartOptions = {}): Promise<number> {
  const workers = options.workers ?? 1;
  if (workers > 1 && cluster.isPrimary) return runPrimary(configFile, workers);
  // Listen for SIGHUP before starting: its default action would kill a process still loading its config.
  let gateway: Gateway | undefined;
  let reloadWhenStarted = false;
  process.on('SIGHUP', () => {
    if (gateway) void gateway.reload();
    else reloadWhenStarted = true;
  });
  try {
    gateway = await Gateway.start({ configFile });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SpecError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const started = gateway;
  if (reloadWhenStarted) void started.reload();
  if (cluster.isWorker) process.send?.({ type: 'rampart:ready' });
  await new Promise<void>((resolve) => {
    const stop = () => {
      started.logger.info('shutting down: draining in-flight requests');
      void started.stop().then(resolve);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // A cluster worker's IPC channel to the supervisor would keep it alive after the gateway has stopped.
  if (cluster.isWorker) process.disconnect?.();
  return 0;
}

/** Most worker restarts allowed within a minute before the supervisor gives up (a crash loop is not "running"). */
const MAX_RESTARTS_PER_MINUTE = 10;

/**
 * The cluster primary: validates the config once (exit 2 when it is bad), forks one worker and, once it is ready,
 * the other `count - 1` (they share the listeners), restarts a worker that dies unexpectedly (at most 10 a minute), forwards SIGHUP (reload) to every
 * worker, and on SIGTERM/SIGINT forwards SIGTERM and waits for the workers to drain (then SIGKILL after the
 * configured drain timeout plus 5 s).
 */
async function runPrimary(configFile: string, count: number): Promise<number> {
  let drainMs: number;
  try {
    drainMs = loadConfigFile(configFile, process.env).config.shutdown.drain_timeout_ms;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SpecError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const say = (message: string) => process.stderr.write(`rampart[primary ${process.pid}]: ${message}\n`);
  cluster.setupPrimary({ args: process.argv.slice(2) });
  const live = new Set<Worker>();
  const restarts: number[] = [];
  let stopping = false;
  let ready = 0;

  return new Promise<number>((resolve) => {
    let exitCode = 0;
    const finish = () => {
      process.off('SIGHUP', onHup);
      resolve(exitCode);
    };
    const stopAll = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      if (live.size === 0) return finish();
      for (const worker of live) worker.process.kill('SIGTERM');
      setTimeout(() => {
        for (const worker of live) worker.process.kill('SIGKILL');
      }, drainMs + 5000).unref();
    };
    const fork = () => {
      const worker = cluster.fork();
      live.add(worker);
      worker.on('message', (message: { type?: string }) => {
        if (message?.type !== 'rampart:ready') return;
        ready++;
        if (ready === count) say(`${count} workers ready`);
        // Start the others only once the first is up: first start creates files (self-signed certificate,
        // generated keys) that concurrent first starts would race on.
        if (ready === 1 && !stopping) for (let i = 1; i < count; i++) fork();
      });
      worker.once('exit', (code, signal) => {
        live.delete(worker);
        if (stopping) {
          if (live.size === 0) finish();
          return;
        }
        if (code === 2) {
          say('a worker rejected the configuration; stopping');
          return stopAll(2);
        }
        const now = Date.now();
        restarts.push(now);
        while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
        if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
          say(`workers keep dying (${restarts.length} restarts in a minute); stopping`);
          return stopAll(1);
        }
        say(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting a new one`);
        fork();
      });
    };
    const onHup = () => {
      for (const worker of live) worker.process.kill('SIGHUP');
    };
    process.on('SIGHUP', onHup);
    process.once('SIGTERM', () => stopAll(0));
    process.once('SIGINT', () => stopAll(0));
    fork();
  });
}
