import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError, type CounterBackend } from '../../counters/types.ts';
import type { RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import type { FailureBackoffConfig } from './failure-backoff-schema.ts';
import { clientNetwork, DEFAULT_IPV6_PREFIX } from '../ratelimit/keys.ts';

export { failureBackoffSchema, type FailureBackoffConfig } from './failure-backoff-schema.ts';

/** Name of these counters in fallback metrics and logs. */
const FALLBACK_NAME = 'failure_backoff';

/**
 * Counts failed authentications and locks out their sources with exponential backoff. Per source two counters:
 * `fail:` (failures within `window_ms`) and `lock:` (present while locked out). A failure past the free ones sets
 * a lock of base × 2^(failures − free − 1), capped. When the shared backend (Redis) cannot answer, the process's
 * in-memory counters take over (`Counters.withFallback`): protection continues per instance rather than being
 * switched off; when no backend can answer, authentication fails closed (503).
 *
 * Lockouts are looked up after the credential is verified and answer 429 whatever its outcome, so a locked source
 * learns nothing. A failure is answered (401) only once `admitFailure` has counted it in one atomic call that
 * also checks the locks, so parallel failures cannot all pass a check made before any of them was counted: at
 * most the free failures are answered, and past them one at a time, each taking the lock its failure earns.
 *
 * Only sources the gateway can trust are counted: the client IP (as resolved through trusted proxies; IPv6 per
 * `counters.ipv6_prefix` network) and the API key id of a key whose checksum was valid, paired with the client,
 * because a key id is no secret and a stranger who knows it must not lock its owner out. A failed JWT's `sub` is
 * attacker-chosen and never counted.
 */
export class FailureBackoff {
  readonly #config: FailureBackoffConfig;
  readonly #counters: Counters;
  readonly #group: string;
  readonly #ipv6Prefix: number;

  constructor(config: FailureBackoffConfig, counters: Counters, group: string, ipv6Prefix: number = DEFAULT_IPV6_PREFIX) {
    this.#config = config;
    this.#counters = counters;
    this.#group = group;
    this.#ipv6Prefix = ipv6Prefix;
  }

  /** Throws 429 `auth_backoff` while the client IP is locked out. */
  async checkIp(ip: string, ctx: RequestContext): Promise<void> {
    await this.#check([`lock:ip:${clientNetwork(ip, this.#ipv6Prefix)}`], ctx);
  }

  /** Throws 429 `auth_backoff` while the API key id is locked out for this client (checked even when the key was right). */
  async checkKey(keyId: string, ctx: RequestContext): Promise<void> {
    await this.#check([this.#pairLock(keyId, clientNetwork(ctx.clientIp, this.#ipv6Prefix))], ctx);
  }

  /**
   * Counts one failed authentication from `ip` (naming `keyId` when the credential carried one) before it may be
   * answered. Throws 429 `auth_backoff`, without counting, while the IP or the key id for this client is locked
   * out, or while another failure past the IP's free ones holds its lock.
   */
  async admitFailure(ip: string, keyId: string | undefined, ctx: RequestContext): Promise<void> {
    const net = clientNetwork(ip, this.#ipv6Prefix);
    const config = this.#config;
    await this.#run(ctx, async (backend) => {
      const guards = [`lock:ip:${net}`];
      if (keyId !== undefined) guards.push(this.#pairLock(keyId, net));
      const free = await backend.reserve(this.#group, { keys: [`fail:ip:${net}`], thresholds: [config.free_failures_ip], windowMs: config.window_ms, lockMs: 0, guards });
      if (!free.allowed) {
        if (free.guardMs > 0) throw backoffError(free.guardMs);
        // The free failures are spent: this failure is answered only if it can take the lock it earns, which
        // refuses every other failure from this IP until it runs out.
        const lockMs = this.#lockMs(free.states[0]!.count - config.free_failures_ip + 1);
        const held = await backend.reserve(this.#group, { keys: [`lock:ip:${net}`], thresholds: [1], windowMs: lockMs, lockMs });
        if (!held.allowed) throw backoffError(held.states[0]!.ttlMs);
        await backend.hit(this.#group, [`fail:ip:${net}`], config.window_ms, [0], 0);
      }
      if (keyId === undefined) return;
      const pair = `key:${keyId}:${net}`;
      const [state] = await backend.hit(this.#group, [`fail:${pair}`], config.window_ms, [0], 0);
      const over = state!.count - config.free_failures_key;
      if (over > 0) {
        const lockMs = this.#lockMs(over);
        await backend.hit(this.#group, [`lock:${pair}`], lockMs, [1], lockMs);
      }
    });
  }

  #pairLock(keyId: string, net: string): string {
    return `lock:key:${keyId}:${net}`;
  }

  /** Lockout for the `over`-th failure past the free ones, in ms. */
  #lockMs(over: number): number {
    return Math.min(this.#config.max_delay_ms, this.#config.base_delay_ms * 2 ** Math.min(30, Math.max(0, over - 1)));
  }

  async #check(keys: readonly string[], ctx: RequestContext): Promise<void> {
    const states = await this.#run(ctx, (backend) => backend.peek(this.#group, keys));
    const lockedFor = Math.max(0, ...states.filter((s) => s.count > 0).map((s) => s.ttlMs));
    if (lockedFor > 0) throw backoffError(lockedFor);
  }

  async #run<T>(ctx: RequestContext, run: (backend: CounterBackend) => Promise<T>): Promise<T> {
    try {
      return await this.#counters.withFallback(FALLBACK_NAME, ctx, run);
    } catch (error) {
      if (!(error instanceof CounterUnavailableError)) throw error;
      throw new GatewayError('service_unavailable', 'authentication backoff counters unavailable; failing closed', { cause: error, headers: { 'retry-after': '1' } });
    }
  }
}

function backoffError(lockedForMs: number): GatewayError {
  return new GatewayError('auth_backoff', 'authentication locked out after repeated failures', {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(lockedForMs / 1000))) },
  });
}
