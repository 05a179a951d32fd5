import { Worker } from 'node:worker_threads';
import { GatewayError } from '../../problem.ts';

/** Estimates waiting or running at once; past it, a check is refused with 503 (a flood cannot queue without bound). */
const MAX_PENDING = 64;
/** Estimates one client (IP) may have waiting or running: one client cannot take the whole queue. */
const MAX_PENDING_PER_CLIENT = 4;
/** Longest one running estimate may take before it is refused and the worker replaced (queued ones are kept). */
const ESTIMATE_TIMEOUT_MS = 2000;

let breached: Promise<ReadonlySet<string>> | undefined;

/**
 * The shipped list of common and breached passwords, loaded on first use only: the dictionaries are megabytes of
 * strings, and a gateway that checks no password must not carry them (a larger heap makes every GC dearer).
 */
export function breachedList(): Promise<ReadonlySet<string>> {
  breached ??= import('@zxcvbn-ts/language-common').then((common) => new Set((common.dictionary['passwords-common'] as readonly string[]).map((p) => p.trim().toLowerCase())));
  return breached;
}

/** Whether the password (already case- and whitespace-folded) is in the shipped list of common and breached passwords. */
export async function isBreached(folded: string): Promise<boolean> {
  return (await breachedList()).has(folded);
}

interface Job {
  readonly password: string;
  readonly userInputs: readonly string[];
  readonly client: string;
  readonly resolve: (score: number) => void;
  readonly reject: (error: Error) => void;
}

const saturated = () => new GatewayError('service_unavailable', 'password strength estimates saturated', { headers: { 'retry-after': '1' } });

/**
 * zxcvbn strength estimates on one worker thread, started on first use and keeping the process alive only while an
 * estimate runs. Jobs wait
 * in a bounded queue (with a per-client share) and are sent to the worker one at a time, so the timeout measures the
 * running estimate only: one that hangs is refused (503) and its worker replaced, the queued ones carry on with the
 * new worker. An estimate is never answered as strong when it could not be made.
 */
class StrengthEstimator {
  #worker: Worker | undefined;
  readonly #queue: Job[] = [];
  #running: { readonly job: Job; readonly timer: NodeJS.Timeout } | undefined;
  readonly #perClient = new Map<string, number>();

  score(password: string, userInputs: readonly string[], client: string): Promise<number> {
    const pending = this.#queue.length + (this.#running ? 1 : 0);
    const mine = this.#perClient.get(client) ?? 0;
    if (pending >= MAX_PENDING || mine >= MAX_PENDING_PER_CLIENT) return Promise.reject(saturated());
    this.#perClient.set(client, mine + 1);
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ password, userInputs, client, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#running) return;
    const job = this.#queue.shift();
    if (!job) {
      // Idle: the worker must not keep the process alive. While an estimate runs, it must (its caller awaits it).
      this.#worker?.unref();
      return;
    }
    const worker = this.#workerNow();
    worker.ref();
    const timer = setTimeout(() => {
      this.#finish(new GatewayError('service_unavailable', 'password strength estimate timed out'));
      const hung = this.#worker;
      this.#worker = undefined;
      void hung?.terminate();
      this.#next();
    }, ESTIMATE_TIMEOUT_MS);
    timer.unref();
    this.#running = { job, timer };
    worker.postMessage({ id: 0, password: job.password, userInputs: [...job.userInputs] });
  }

  /** Settles the running job with a score or an error and frees its client's share. */
  #finish(outcome: number | Error): void {
    const running = this.#running;
    if (!running) return;
    this.#running = undefined;
    clearTimeout(running.timer);
    const left = (this.#perClient.get(running.job.client) ?? 1) - 1;
    if (left <= 0) this.#perClient.delete(running.job.client);
    else this.#perClient.set(running.job.client, left);
    if (typeof outcome === 'number') running.job.resolve(outcome);
    else running.job.reject(outcome);
  }

  #workerNow(): Worker {
    if (this.#worker) return this.#worker;
    const file = import.meta.url.endsWith('.ts') ? './strength-worker.ts' : './strength-worker.js';
    const worker = new Worker(new URL(file, import.meta.url));
    worker.on('message', (message: { score: number }) => {
      if (this.#worker !== worker) return;
      this.#finish(message.score < 0 ? new GatewayError('internal', 'password strength estimate failed') : message.score);
      this.#next();
    });
    const lost = (error: GatewayError) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#finish(error);
      this.#next();
    };
    worker.on('error', (error) => lost(new GatewayError('internal', 'password strength worker failed', { cause: error })));
    worker.on('exit', () => lost(new GatewayError('internal', 'password strength worker exited')));
    this.#worker = worker;
    return worker;
  }
}

const estimator = new StrengthEstimator();

/**
 * zxcvbn's score (0–4) of a password, with the account's own names as user inputs, computed off the event loop.
 * `client` (the caller's IP) bounds how much of the queue one caller may hold.
 */
export function strengthScore(password: string, userInputs: readonly string[], client = ''): Promise<number> {
  return estimator.score(password, userInputs, client);
}
