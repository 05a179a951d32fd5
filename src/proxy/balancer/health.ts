import type { Pool } from 'undici';
import type { Balancer, Target } from './balancer.ts';

/**
 * Active health checks of one upstream's targets: a GET of `health_check.path` per target every `interval_ms`
 * (the first at once, so a dead target is out of rotation within one interval of start), answered 2xx/3xx within
 * `timeout_ms` to pass. One check per target at a time; timers never hold the process open.
 */
export class HealthChecker {
  readonly #balancer: Balancer;
  readonly #createPool: (url: string) => Pool;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  /** @param createPool builds each target's probe connection: its own, so a probe never queues behind traffic. */
  constructor(balancer: Balancer, createPool: (url: string) => Pool) {
    this.#balancer = balancer;
    this.#createPool = createPool;
  }

  start(): void {
    for (const target of this.#balancer.targets) void this.#loop(target);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const target of this.#balancer.targets) {
      void target.probe?.destroy().catch(() => undefined);
      target.probe = undefined;
    }
  }

  async #loop(target: Target): Promise<void> {
    const check = this.#balancer.config.health_check!;
    while (!this.#stopped) {
      // Made again after a TLS rotation dropped it (proxy/pools.ts).
      target.probe ??= this.#createPool(target.url);
      const { passed, refused } = await probe(target.probe, check.path, check.timeout_ms);
      if (this.#stopped) return;
      this.#balancer.checked(target, passed, refused);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, check.interval_ms);
        timer.unref();
        this.#timers.add(timer);
      });
    }
  }
}

async function probe(pool: Pool, path: string, timeoutMs: number): Promise<{ passed: boolean; refused: boolean }> {
  if (pool.destroyed) return { passed: false, refused: false };
  try {
    const response = await pool.request({
      path,
      method: 'GET',
      headers: { 'user-agent': 'rampart-health-check', accept: '*/*' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    return { passed: response.statusCode >= 200 && response.statusCode < 400, refused: false };
  } catch (error) {
    return { passed: false, refused: (error as { code?: string }).code === 'ECONNREFUSED' };
  }
}
