/**
 * A circuit breaker: after `failures` consecutive failures it opens for `cooldownMs`; while open, calls fail at
 * once; after the cooldown one call at a time is let through (half-open) until one succeeds and closes it again.
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openUntil = 0;
  #probing = false;

  /**
   * @param failures consecutive failures that open the circuit (default 3)
   * @param cooldownMs how long it stays open before a probe, in ms (default 1000)
   */
  constructor(failures = 3, cooldownMs = 1000, now: () => number = Date.now) {
    this.#threshold = failures;
    this.#cooldownMs = cooldownMs;
    this.#now = now;
  }

  /** 'closed' (calls pass), 'open' (calls fail fast) or 'half_open' (a probe may pass). */
  get state(): 'closed' | 'open' | 'half_open' {
    if (this.#failures < this.#threshold) return 'closed';
    return this.#now() < this.#openUntil ? 'open' : 'half_open';
  }

  /** Whether a call may go through now. In half-open state only one probe is in flight at a time. */
  allow(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  success(): void {
    this.#failures = 0;
    this.#probing = false;
  }

  failure(): void {
    this.#failures++;
    this.#probing = false;
    if (this.#failures >= this.#threshold) this.#openUntil = this.#now() + this.#cooldownMs;
  }
}
