import type { Pool } from 'undici';
import type { UpstreamConfig } from '../../config/types.ts';
import { GatewayError } from '../../problem.ts';
import { targetsOf } from './schema.ts';

/** What happened to a target, for metrics and the log (bounded names only). */
export interface BalancerEvents {
  ejected?(upstream: string, target: string, forMs: number, reason: string): void;
  health?(upstream: string, target: string, healthy: boolean): void;
}

/** How a request to a target ended, as passive health counts it. */
export type Outcome = 'ok' | 'refused' | 'failed';

/** One instance of an upstream: its own keep-alive pool, load and health. */
export class Target {
  readonly url: string;
  /** `host:port`, bounded by the config: the metric label and log name. */
  readonly label: string;
  readonly weight: number;
  pool: Pool;
  inFlight = 0;
  /** Active health (true until a check says otherwise). */
  healthy = true;
  checkStreak = 0;
  consecutiveFailures = 0;
  ejectedUntil = 0;
  ejections = 0;
  /** Smooth weighted round robin's running weight. */
  current = 0;
  /** The health checks' own connection (a probe never queues behind traffic on a wedged target). */
  probe: Pool | undefined;

  constructor(url: string, weight: number, pool: Pool) {
    this.url = url;
    this.label = new URL(url).host;
    this.weight = weight;
    this.pool = pool;
  }

  inRotation(now: number): boolean {
    return this.healthy && now >= this.ejectedUntil;
  }
}

/**
 * Picks a target per request among those in rotation (healthy by the active checks, not ejected by passive
 * health) and keeps passive health. An upstream of one target is never ejected (there is nowhere else to go; its
 * refusals answer fast anyway), though a failing active check still takes it out.
 */
export class Balancer {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly Target[];
  readonly #events: BalancerEvents;
  readonly #now: () => number;

  constructor(name: string, config: UpstreamConfig, createPool: (url: string) => Pool, events: BalancerEvents = {}, now: () => number = Date.now) {
    this.name = name;
    this.config = config;
    this.targets = targetsOf(config).map((t) => new Target(t.url, t.weight, createPool(t.url)));
    this.#events = events;
    this.#now = now;
  }

  /** The target for the next try, never one in `tried`; undefined when none is in rotation. */
  pick(tried?: ReadonlySet<Target>): Target | undefined {
    const targets = this.targets;
    if (targets.length === 1) {
      const only = targets[0]!;
      return only.inRotation(this.#now()) && !tried?.has(only) ? only : undefined;
    }
    const now = this.#now();
    return this.config.balance === 'least_requests' ? this.#leastRequests(now, tried) : this.#roundRobin(now, tried);
  }

  /**
   * The target for a try: another than those `tried` when there is one, else (a retry) any in rotation again.
   * @throws GatewayError upstream_unavailable (503, Retry-After) when none is in rotation.
   */
  require(tried?: ReadonlySet<Target>): Target {
    const target = this.pick(tried) ?? (tried ? this.pick() : undefined);
    if (!target) throw new GatewayError('upstream_unavailable', `upstreams.${this.name}: no target in rotation`, { headers: { 'retry-after': '1' } });
    return target;
  }

  /** nginx's smooth weighted round robin (over the targets `among` admits): each gets its weight's share, interleaved. */
  #roundRobin(now: number, tried: ReadonlySet<Target> | undefined, among?: (t: Target) => boolean): Target | undefined {
    let total = 0;
    let best: Target | undefined;
    for (const t of this.targets) {
      if (!t.inRotation(now) || tried?.has(t) || (among && !among(t))) continue;
      t.current += t.weight;
      total += t.weight;
      if (!best || t.current > best.current) best = t;
    }
    if (best) best.current -= total;
    return best;
  }

  /**
   * Fewest requests in flight per unit of weight; ties (an idle pool, where every target has none) are shared by
   * weight with the round robin, so weights hold at low load too.
   */
  #leastRequests(now: number, tried: ReadonlySet<Target> | undefined): Target | undefined {
    let best: Target | undefined;
    for (const t of this.targets) {
      if (!t.inRotation(now) || tried?.has(t)) continue;
      if (!best || t.inFlight * best.weight < best.inFlight * t.weight) best = t;
    }
    if (!best) return undefined;
    const least = best;
    return this.#roundRobin(now, tried, (t) => t.inFlight * least.weight === least.inFlight * t.weight);
  }

  /** Counts a finished try for passive health: failures in a row eject, a refused connection at once. */
  record(target: Target, outcome: Outcome): void {
    if (outcome === 'ok') {
      target.consecutiveFailures = 0;
      if (target.ejections > 0 && this.#now() >= target.ejectedUntil) target.ejections = 0;
      return;
    }
    target.consecutiveFailures++;
    if (this.targets.length < 2) return;
    const { consecutive_failures, ejection_ms, max_ejection_ms } = this.config.outlier;
    if (outcome !== 'refused' && target.consecutiveFailures < consecutive_failures) return;
    const now = this.#now();
    if (now < target.ejectedUntil) return;
    // Never the last one in rotation: failures every target shares (one failing path of the app, a dependency of
    // all of them) must not turn into refusing the whole upstream while its instances are up.
    if (!this.targets.some((t) => t !== target && t.inRotation(now))) return;
    const forMs = Math.min(max_ejection_ms, ejection_ms * 2 ** Math.min(target.ejections, 20));
    target.ejections++;
    target.ejectedUntil = now + forMs;
    target.consecutiveFailures = 0;
    this.#events.ejected?.(this.name, target.label, forMs, outcome);
  }

  /** Applies an active check's result; returns whether the target's health changed. */
  checked(target: Target, passed: boolean, refused: boolean): boolean {
    const check = this.config.health_check!;
    if (passed === target.healthy) {
      target.checkStreak = 0;
      return false;
    }
    target.checkStreak++;
    const needed = passed ? check.healthy_threshold : refused ? 1 : check.unhealthy_threshold;
    if (target.checkStreak < needed) return false;
    target.healthy = passed;
    target.checkStreak = 0;
    if (passed) {
      // Back from a failed check: whatever passive ejection was pending is over too.
      target.ejectedUntil = 0;
      target.ejections = 0;
      target.consecutiveFailures = 0;
    }
    this.#events.health?.(this.name, target.label, passed);
    return true;
  }
}
