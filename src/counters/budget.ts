/**
 * The per-request wait budget on the shared counter backend: every shared call of one request (pre-auth limits,
 * the authentication lockout lookup, post-auth limits, throttling re-checks) draws on one allowance of
 * `timeout_ms`, so a stalled Redis delays a request by at most the timeout in total, not once per call.
 */
import { CounterUnavailableError } from './types.ts';

/**
 * Time spent waiting on the shared backend by one request, measured as the union of the intervals in which at
 * least one call was in flight (parallel calls do not add up). Monotonic clock; sleeps between calls (throttling)
 * do not count.
 */
export class WaitBudget {
  readonly #allowanceMs: number;
  #spentMs = 0;
  #active = 0;
  #since = 0;

  constructor(allowanceMs: number) {
    this.#allowanceMs = allowanceMs;
  }

  /** Milliseconds still available at `now` (performance.now()); may be ≤ 0. */
  remaining(now = performance.now()): number {
    return this.#allowanceMs - this.#spentMs - (this.#active > 0 ? now - this.#since : 0);
  }

  /**
   * Runs `call` within the remaining allowance. Throws CounterUnavailableError (reason `budget`) at once when
   * nothing is left, or when the allowance runs out before `call` settles (the call itself is left to finish or
   * time out on its own; its result is ignored).
   */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const left = this.remaining(start);
    if (left <= 0) throw new BudgetExhaustedError();
    if (this.#active++ === 0) this.#since = start;
    // The backend already gives up after the full timeout; a timer is only needed when less than that is left.
    const promise = left >= this.#allowanceMs ? call() : race(call(), left);
    try {
      return await promise;
    } finally {
      if (--this.#active === 0) this.#spentMs += performance.now() - this.#since;
    }
  }
}

/** The request's wait allowance on the shared backend was used up by earlier calls. */
export class BudgetExhaustedError extends CounterUnavailableError {
  constructor() {
    super('counter wait budget of the request used up');
    this.name = 'BudgetExhaustedError';
  }
}

function race<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BudgetExhaustedError()), Math.max(1, Math.ceil(ms)));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}
