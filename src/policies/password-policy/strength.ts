import { Worker } from 'node:worker_threads';
import * as common from '@zxcvbn-ts/language-common';
import { GatewayError } from '../../problem.ts';

/** Estimates waiting or running at once; past it, a check is refused with 503 (a flood cannot queue without bound). */
const MAX_PENDING = 64;
/** Longest an estimate may take before the request is refused (the worker is then replaced). */
const ESTIMATE_TIMEOUT_MS = 2000;

let breached: ReadonlySet<string> | undefined;

/** Whether the password (case-insensitively) is in the shipped list of common and breached passwords. */
export function isBreached(password: string): boolean {
  breached ??= new Set((common.dictionary['passwords-common'] as readonly string[]).map((p) => p.toLowerCase()));
  return breached.has(password.toLowerCase());
}

interface Pending {
  readonly resolve: (score: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * zxcvbn strength estimates on one worker thread, started on first use and not keeping the process alive. Each
 * estimate has a timeout; a worker that hangs or dies is replaced and its pending estimates refused (503), never
 * answered as strong.
 */
class StrengthEstimator {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  score(password: string, userInputs: readonly string[]): Promise<number> {
    if (this.#pending.size >= MAX_PENDING) return Promise.reject(new GatewayError('service_unavailable', 'password strength estimates saturated', { headers: { 'retry-after': '1' } }));
    const worker = this.#workerNow();
    const id = this.#nextId++;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new GatewayError('service_unavailable', 'password strength estimate timed out'), true), ESTIMATE_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, password, userInputs: [...userInputs] });
    });
  }

  #workerNow(): Worker {
    if (this.#worker) return this.#worker;
    const file = import.meta.url.endsWith('.ts') ? './strength-worker.ts' : './strength-worker.js';
    const worker = new Worker(new URL(file, import.meta.url));
    worker.unref();
    worker.on('message', (message: { id: number; score: number }) => {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.score < 0) pending.reject(new GatewayError('internal', 'password strength estimate failed'));
      else pending.resolve(message.score);
    });
    worker.on('error', (error) => this.#fail(new GatewayError('internal', 'password strength worker failed', { cause: error }), false));
    worker.on('exit', () => {
      if (this.#worker === worker) this.#fail(new GatewayError('internal', 'password strength worker exited'), false);
    });
    this.#worker = worker;
    return worker;
  }

  /** Refuses every pending estimate and drops the worker (terminated when it hangs); the next estimate starts a new one. */
  #fail(error: GatewayError, terminate: boolean): void {
    const worker = this.#worker;
    this.#worker = undefined;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
    if (terminate) void worker?.terminate();
  }
}

const estimator = new StrengthEstimator();

/** zxcvbn's score (0–4) of a password, with the account's own names as user inputs, computed off the event loop. */
export function strengthScore(password: string, userInputs: readonly string[]): Promise<number> {
  return estimator.score(password, userInputs);
}
