import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stateless DPoP server nonces: the HMAC of the current period number, so any instance holding the key issues and
 * accepts the same nonces with nothing stored. The current and the previous period's nonces are accepted.
 */
/** The key nonces come from when none is configured: one per process, so a reload keeps nonces valid. */
const PROCESS_KEY = randomBytes(32);
const NONCE = /^[A-Za-z0-9_-]{43}$/;

export class DpopNonces {
  readonly #key: Buffer;
  readonly #periodMs: number;
  readonly #now: () => number;

  constructor(key: string | undefined, rotateSeconds: number, now: () => number = Date.now) {
    this.#key = key === undefined ? PROCESS_KEY : Buffer.from(key, 'utf8');
    this.#periodMs = rotateSeconds * 1000;
    this.#now = now;
  }

  /** The nonce to hand out now (`DPoP-Nonce`). */
  current(): string {
    return this.#nonceFor(Math.floor(this.#now() / this.#periodMs));
  }

  /** Whether `nonce` is this period's or the previous one's. */
  accepts(nonce: unknown): boolean {
    if (typeof nonce !== 'string' || !NONCE.test(nonce)) return false;
    const period = Math.floor(this.#now() / this.#periodMs);
    const given = Buffer.from(nonce);
    return [period, period - 1].some((p) => timingSafeEqual(given, Buffer.from(this.#nonceFor(p))));
  }

  #nonceFor(period: number): string {
    return createHmac('sha256', this.#key).update(`dpop-nonce:${period}`).digest('base64url');
  }
}
