import type { RetryConfig } from './schema.ts';

/** Methods a retry cannot turn into a second, different effect (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

const WINDOW_SECONDS = 10;

/**
 * How many retries an upstream may make: at most `budget_ratio` of its requests over the last 10 s, or else
 * `min_per_second` in the current second. In an outage every request fails, so without a budget each would be sent
 * `1 + attempts` times: the budget keeps the extra load a bounded share instead.
 */
export class RetryBudget {
  readonly #config: RetryConfig;
  readonly #now: () => number;
  readonly #requests = new Array<number>(WINDOW_SECONDS).fill(0);
  readonly #retries = new Array<number>(WINDOW_SECONDS).fill(0);
  #second = 0;

  constructor(config: RetryConfig, now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  #advance(): number {
    const second = Math.floor(this.#now() / 1000);
    if (second !== this.#second) {
      const gap = Math.min(WINDOW_SECONDS, second - this.#second);
      for (let i = 1; i <= gap; i++) {
        const slot = (this.#second + i) % WINDOW_SECONDS;
        this.#requests[slot] = 0;
        this.#retries[slot] = 0;
      }
      this.#second = second;
    }
    return second % WINDOW_SECONDS;
  }

  /** Counts a request (its first try). */
  request(): void {
    this.#requests[this.#advance()]!++;
  }

  /** Takes one retry from the budget; false when it is spent. */
  take(): boolean {
    const slot = this.#advance();
    const requests = this.#requests.reduce((a, b) => a + b, 0);
    const retries = this.#retries.reduce((a, b) => a + b, 0);
    // The floor is per second: spent in one burst it would multiply the load of that moment.
    if (retries >= this.#config.budget_ratio * requests && this.#retries[slot]! >= this.#config.min_per_second) return false;
    this.#retries[slot]!++;
    return true;
  }
}

/** Full-jitter exponential backoff before retry number `retry` (1-based). */
export function backoffMs(config: RetryConfig, retry: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(config.max_backoff_ms, config.backoff_ms * 2 ** (retry - 1)));
}
