import type { RecordSink, RequestOutcome } from '../pipeline/types.ts';

/** Width of one traffic bucket. */
export const BUCKET_MS = 10_000;
/** Buckets kept: one hour. */
export const BUCKETS = 360;
/** Distinct consumers / client IPs counted per bucket; the rest are counted as `(other)` (a flood of distinct IPs stays bounded). */
export const MAX_KEYS_PER_BUCKET = 200;
/** Distinct deny codes per bucket (codes are a fixed set; this only bounds a bug). */
const MAX_CODES_PER_BUCKET = 64;
export const OTHER = '(other)';

/** Latency bin upper bounds in ms: log-spaced from 0.1 ms to 60 s, then +Inf. */
const BIN_BOUNDS_MS: readonly number[] = Array.from({ length: 48 }, (_, i) => 0.1 * Math.pow(60_000 / 0.1, i / 47));

interface Bucket {
  start: number;
  requests: number;
  denies: Map<string, number>;
  latency: Uint32Array;
  consumers: Map<string, number>;
  ips: Map<string, number>;
}

/** One point of the series: a bucket's start, requests, denies per code and latency percentiles (ms). */
export interface TrafficPoint {
  readonly at: string;
  readonly requests: number;
  readonly denied: number;
  readonly denies: Record<string, number>;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface TrafficSummary {
  readonly bucket_seconds: number;
  readonly window_seconds: number;
  readonly requests: number;
  readonly denied: number;
  readonly denies: Record<string, number>;
  readonly latency_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  readonly top_consumers: readonly { readonly consumer: string; readonly requests: number }[];
  readonly top_ips: readonly { readonly ip: string; readonly requests: number }[];
  readonly series: readonly TrafficPoint[];
}

function bump(map: Map<string, number>, key: string, cap: number): void {
  const seen = map.get(key);
  if (seen !== undefined) map.set(key, seen + 1);
  else if (map.size < cap) map.set(key, 1);
  else map.set(OTHER, (map.get(OTHER) ?? 0) + 1);
}

function binOf(ms: number): number {
  let lo = 0;
  let hi = BIN_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= BIN_BOUNDS_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The upper bound of the bin holding quantile `q` (null without samples); the overflow bin reads as 60 s. */
function quantile(bins: Uint32Array, q: number): number | null {
  let total = 0;
  for (const n of bins) total += n;
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < bins.length; i++) {
    seen += bins[i]!;
    if (seen >= rank) return Math.round((BIN_BOUNDS_MS[i] ?? 60_000) * 100) / 100;
  }
  return null;
}

/** The `n` largest counts over `maps` merged, largest first (ties by key). */
function top(maps: readonly Map<string, number>[], n: number): [string, number][] {
  const merged = new Map<string, number>();
  for (const map of maps) for (const [k, v] of map) merged.set(k, (merged.get(k) ?? 0) + v);
  return [...merged].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, n);
}

/**
 * Requests, denies per reason, latency percentiles, top consumers and client IPs over the last hour, in 10-second
 * buckets held in memory (this instance's traffic): the dashboard's overview. A record sink: it counts, never
 * blocks. Memory is bounded by BUCKETS × MAX_KEYS_PER_BUCKET whatever the traffic.
 */
export class TrafficStats implements RecordSink {
  readonly #buckets: (Bucket | undefined)[] = new Array<Bucket | undefined>(BUCKETS);
  readonly #now: () => number;
  readonly #denyListeners = new Set<(outcome: RequestOutcome) => void>();
  /** The last summary per window, reused within the same second (every open stream asks every 2 s). */
  readonly #recent = new Map<number, { readonly second: number; readonly summary: TrafficSummary }>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Subscribes to denied requests (the dashboard's live feed); returns the unsubscribe function. */
  onDeny(listener: (outcome: RequestOutcome) => void): () => void {
    this.#denyListeners.add(listener);
    return () => this.#denyListeners.delete(listener);
  }

  record(outcome: RequestOutcome): void {
    const bucket = this.#current();
    bucket.requests++;
    if (outcome.decision === 'deny') {
      bump(bucket.denies, outcome.code ?? 'unknown', MAX_CODES_PER_BUCKET);
      for (const listener of this.#denyListeners) {
        try {
          listener(outcome);
        } catch {
          // a feed listener never fails the request's record
        }
      }
    }
    bucket.latency[binOf(Number(outcome.totalNs) / 1e6)]!++;
    const consumer = outcome.identity?.consumer ?? outcome.identity?.subject;
    if (consumer !== undefined) bump(bucket.consumers, consumer.slice(0, 128), MAX_KEYS_PER_BUCKET);
    bump(bucket.ips, outcome.clientIp, MAX_KEYS_PER_BUCKET);
  }

  /**
   * The last `windowSeconds` (10 s to 1 h), oldest point first; empty buckets are zero points. Computed at most once
   * per window per second (up to a second stale), however many streams ask.
   */
  summary(windowSeconds: number): TrafficSummary {
    const second = Math.floor(this.#now() / 1000);
    const cached = this.#recent.get(windowSeconds);
    if (cached && cached.second === second) return cached.summary;
    const summary = this.#summarise(windowSeconds);
    if (this.#recent.size >= 16 && !this.#recent.has(windowSeconds)) this.#recent.clear();
    this.#recent.set(windowSeconds, { second, summary });
    return summary;
  }

  #summarise(windowSeconds: number): TrafficSummary {
    const count = Math.max(1, Math.min(BUCKETS, Math.ceil(windowSeconds / (BUCKET_MS / 1000))));
    const nowStart = Math.floor(this.#now() / BUCKET_MS) * BUCKET_MS;
    const buckets: Bucket[] = [];
    const series: TrafficPoint[] = [];
    for (let i = count - 1; i >= 0; i--) {
      const start = nowStart - i * BUCKET_MS;
      const slot = this.#buckets[(start / BUCKET_MS) % BUCKETS];
      const bucket = slot && slot.start === start ? slot : undefined;
      if (bucket) buckets.push(bucket);
      const denies = bucket ? Object.fromEntries(bucket.denies) : {};
      series.push({
        at: new Date(start).toISOString(),
        requests: bucket?.requests ?? 0,
        denied: Object.values(denies).reduce((a, b) => a + b, 0),
        denies,
        p50: bucket ? quantile(bucket.latency, 0.5) : null,
        p95: bucket ? quantile(bucket.latency, 0.95) : null,
        p99: bucket ? quantile(bucket.latency, 0.99) : null,
      });
    }
    const latency = new Uint32Array(BIN_BOUNDS_MS.length + 1);
    const denies: Record<string, number> = {};
    for (const b of buckets) {
      for (let i = 0; i < latency.length; i++) latency[i]! += b.latency[i]!;
      for (const [code, n] of b.denies) denies[code] = (denies[code] ?? 0) + n;
    }
    return {
      bucket_seconds: BUCKET_MS / 1000,
      window_seconds: count * (BUCKET_MS / 1000),
      requests: buckets.reduce((a, b) => a + b.requests, 0),
      denied: Object.values(denies).reduce((a, b) => a + b, 0),
      denies,
      latency_ms: { p50: quantile(latency, 0.5), p95: quantile(latency, 0.95), p99: quantile(latency, 0.99) },
      top_consumers: top(buckets.map((b) => b.consumers), 10).map(([consumer, requests]) => ({ consumer, requests })),
      top_ips: top(buckets.map((b) => b.ips), 10).map(([ip, requests]) => ({ ip, requests })),
      series,
    };
  }

  #current(): Bucket {
    const start = Math.floor(this.#now() / BUCKET_MS) * BUCKET_MS;
    const index = (start / BUCKET_MS) % BUCKETS;
    const slot = this.#buckets[index];
    if (slot && slot.start === start) return slot;
    const fresh: Bucket = { start, requests: 0, denies: new Map(), latency: new Uint32Array(BIN_BOUNDS_MS.length + 1), consumers: new Map(), ips: new Map() };
    this.#buckets[index] = fresh;
    return fresh;
  }
}
