import { durationMs } from '../../config/refs.ts';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError, type CounterBackend } from '../../counters/types.ts';
import { GatewayError } from '../../problem.ts';

const count = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000, default: def, description }) as const;

/** `apis[].auth.failure_backoff`. */
export const failureBackoffSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Brute-force protection on authentication: presented-but-invalid credentials (bad tokens, wrong API keys) are counted per client IP and per API key id; past the free failures each further failure locks that IP or key out for an exponentially growing time (429 `auth_backoff` with Retry-After). Counts live in the rate-limit counter backend (memory or Redis).',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Count authentication failures and back off.' },
    window_ms: durationMs(3_600_000, 'Failures are remembered for this long after the first one, in ms.', 86_400_000),
    free_failures_ip: count(10, 'Failures from one client IP before it is backed off.'),
    free_failures_key: count(20, 'Failures naming one API key id (wrong secret, revoked, expired) before that key id is backed off.'),
    base_delay_ms: durationMs(1000, 'Lockout after the first failure past the free ones; it doubles with each further failure, in ms.', 3_600_000),
    max_delay_ms: durationMs(900_000, 'Longest lockout, in ms.', 86_400_000),
  },
} as const;

export interface FailureBackoffConfig {
  readonly enabled: boolean;
  readonly window_ms: number;
  readonly free_failures_ip: number;
  readonly free_failures_key: number;
  readonly base_delay_ms: number;
  readonly max_delay_ms: number;
}

/**
 * Counts failed authentications and locks out their sources with exponential backoff. Per source two counters:
 * `fail:` (failures within `window_ms`) and `lock:` (present while locked out). A failure past the free ones sets
 * a lock of base × 2^(failures − free − 1), capped. When the shared backend (Redis) cannot answer, the process's
 * in-memory counters take over: protection continues per instance rather than being switched off.
 *
 * Only sources the gateway can trust are counted: the client IP (as resolved through trusted proxies) and the API
 * key id of a key whose checksum was valid. A failed JWT's `sub` is attacker-chosen and never counted, or anyone
 * could lock a victim out.
 */
export class FailureBackoff {
  readonly #config: FailureBackoffConfig;
  readonly #counters: Counters;
  readonly #group: string;

  constructor(config: FailureBackoffConfig, counters: Counters, group: string) {
    this.#config = config;
    this.#counters = counters;
    this.#group = group;
  }

  /** Throws 429 `auth_backoff` while the client IP is locked out. */
  async checkIp(ip: string): Promise<void> {
    await this.#check([`lock:ip:${ip}`]);
  }

  /** Throws 429 `auth_backoff` while the API key id is locked out (checked even when the key was right). */
  async checkKey(keyId: string): Promise<void> {
    await this.#check([`lock:key:${keyId}`]);
  }

  /** Records one failed authentication from `ip`, naming `keyId` when the credential carried one. */
  async recordFailure(ip: string, keyId: string | undefined): Promise<void> {
    const sources: { key: string; free: number }[] = [{ key: `ip:${ip}`, free: this.#config.free_failures_ip }];
    if (keyId !== undefined) sources.push({ key: `key:${keyId}`, free: this.#config.free_failures_key });
    await this.#withBackend(async (backend) => {
      const states = await backend.hit(this.#group, sources.map((s) => `fail:${s.key}`), this.#config.window_ms, sources.map(() => 0), 0);
      for (const [i, source] of sources.entries()) {
        const over = states[i]!.count - source.free;
        if (over <= 0) continue;
        const lockMs = Math.min(this.#config.max_delay_ms, this.#config.base_delay_ms * 2 ** Math.min(30, over - 1));
        await backend.hit(this.#group, [`lock:${source.key}`], lockMs, [1], lockMs);
      }
    });
  }

  async #check(keys: readonly string[]): Promise<void> {
    const states = await this.#withBackend((backend) => backend.peek(this.#group, keys));
    const lockedFor = Math.max(0, ...states.filter((s) => s.count > 0).map((s) => s.ttlMs));
    if (lockedFor > 0) {
      throw new GatewayError('auth_backoff', 'authentication locked out after repeated failures', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(lockedFor / 1000))) },
      });
    }
  }

  async #withBackend<T>(run: (backend: CounterBackend) => Promise<T>): Promise<T> {
    try {
      return await run(this.#counters.shared);
    } catch (error) {
      if (!(error instanceof CounterUnavailableError) || this.#counters.local === this.#counters.shared) throw error;
      return run(this.#counters.local);
    }
  }
}
