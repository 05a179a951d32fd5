import type { MonitorConfig, Severity } from './schema.ts';
import type { IncidentSubject } from './incidents.ts';

/** What the monitor keeps of one finished request (copied at record time; no bodies, no headers). */
export interface RequestSample {
  readonly at: number;
  readonly requestId: string;
  readonly ip: string;
  readonly method: string;
  readonly status: number;
  readonly decision: string;
  readonly code?: string;
  /** `api:operationId`, or undefined for unmatched paths. */
  readonly route?: string;
  /** Path parameter values joined (the object ids), empty when the route has none. */
  readonly objectId: string;
  readonly consumer?: string;
  readonly subject?: string;
  readonly keyId?: string;
}

/** A detector firing: the incident kind, the subject, the evidence that tripped it. */
export interface Detection {
  readonly kind: string;
  readonly severity: Severity;
  readonly subject: IncidentSubject;
  readonly summary: string;
  readonly count: number;
  readonly requestIds: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
  readonly firstAt: number;
  readonly lastAt: number;
}

const AUTH_FAILURE_CODES = new Set(['unauthorized', 'invalid_token', 'account_locked', 'auth_backoff']);
const ERROR_CODES = new Set(['validation_failed', 'bad_request', 'invalid_path', 'unsupported_media_type', 'payload_too_large', 'method_not_allowed', 'uri_too_long', 'headers_too_large', 'digest_invalid', 'digest_required']);
/**
 * 5xx answers that say nothing about the client: read-only mode, a dependency down (fail closed), no upstream
 * target in rotation. Every client gets them alike, so counting them would block every client's IP.
 */
const NOT_CLIENT_ERRORS = new Set(['read_only', 'service_unavailable', 'upstream_unavailable']);
const SAMPLE_IDS = 20;
/** Bound on tracked subjects per detector (oldest forgotten first). */
const MAX_KEYS = 50_000;

/** Timestamps of events inside a window, plus the newest request ids as evidence. */
class CountWindow {
  readonly times: number[] = [];
  readonly ids: string[] = [];
  add(at: number, id: string, windowMs: number, cap: number): void {
    this.times.push(at);
    this.ids.push(id);
    while (this.times.length > 0 && (this.times[0]! <= at - windowMs || this.times.length > cap)) this.times.shift();
    if (this.ids.length > SAMPLE_IDS) this.ids.shift();
  }
}

/** Distinct values inside a window (Map in last-seen order). */
class DistinctWindow {
  readonly seen = new Map<string, number>();
  readonly ids: string[] = [];
  first = 0;
  add(value: string, at: number, id: string, windowMs: number, cap: number): number {
    if (this.seen.size === 0) this.first = at;
    this.seen.delete(value);
    this.seen.set(value, at);
    for (const [v, t] of this.seen) {
      if (t > at - windowMs && this.seen.size <= cap) break;
      this.seen.delete(v);
    }
    this.ids.push(id);
    if (this.ids.length > SAMPLE_IDS) this.ids.shift();
    return this.seen.size;
  }
}

class Keyed<T> {
  readonly #map = new Map<string, T>();
  readonly #make: () => T;
  constructor(make: () => T) {
    this.#make = make;
  }
  get(key: string): T {
    let v = this.#map.get(key);
    if (v === undefined) {
      if (this.#map.size >= MAX_KEYS) this.#map.delete(this.#map.keys().next().value!);
      v = this.#make();
      this.#map.set(key, v);
    }
    return v;
  }
  clear(): void {
    this.#map.clear();
  }
}

interface SpikeState {
  windowStart: number;
  count: number;
  ewma: number | undefined;
  ids: string[];
}

/**
 * The anomaly detectors, fed request samples off the hot path (the monitor drains its queue on a timer). Each
 * detector keeps bounded per-IP / per-consumer / per-key windows and fires a Detection when a threshold is crossed;
 * a subject fires again (to update its incident) at most once per second.
 */
export class Detectors {
  readonly #config: MonitorConfig['detectors'];
  readonly #lastFired = new Map<string, number>();
  readonly #auth = new Keyed(() => new CountWindow());
  readonly #errors = new Keyed(() => new CountWindow());
  readonly #enum = new Keyed(() => new DistinctWindow());
  readonly #scrape = new Keyed(() => new DistinctWindow());
  readonly #keyIps = new Keyed(() => new DistinctWindow());
  readonly #spike = new Keyed<SpikeState>(() => ({ windowStart: 0, count: 0, ewma: undefined, ids: [] }));

  constructor(config: MonitorConfig['detectors']) {
    this.#config = config;
  }

  /** Feeds one sample; returns the detections it caused (usually none). */
  observe(s: RequestSample): Detection[] {
    const out: Detection[] = [];
    const c = this.#config;
    const subjects: [string, IncidentSubject][] = [[`ip:${s.ip}`, { ip: s.ip }]];
    if (s.consumer) subjects.push([`consumer:${s.consumer}`, { consumer: s.consumer, subject: s.subject, keyId: s.keyId, ip: s.ip }]);

    const authFailure = s.status === 401 || (s.code !== undefined && AUTH_FAILURE_CODES.has(s.code));
    if (c.auth_failures.enabled && authFailure) {
      const w = this.#auth.get(`ip:${s.ip}`);
      w.add(s.at, s.requestId, c.auth_failures.window_seconds * 1000, c.auth_failures.threshold * 4);
      if (w.times.length >= c.auth_failures.threshold) {
        this.#fire(out, 'auth_failures', `ip:${s.ip}`, s, c.auth_failures.severity, { ip: s.ip }, w.times.length, w.ids, w.times[0]!, `${w.times.length} authentication failures from one IP in ${c.auth_failures.window_seconds}s (credential stuffing / brute force)`, { auth_failures: w.times.length });
      }
    }

    const isError = s.code !== undefined ? ERROR_CODES.has(s.code) || (s.status >= 500 && !NOT_CLIENT_ERRORS.has(s.code)) : s.status >= 500 || s.status === 422;
    if (c.error_spike.enabled && isError) {
      for (const [key, subject] of subjects) {
        const w = this.#errors.get(key);
        w.add(s.at, s.requestId, c.error_spike.window_seconds * 1000, c.error_spike.threshold * 4);
        if (w.times.length >= c.error_spike.threshold) {
          this.#fire(out, 'error_spike', key, s, c.error_spike.severity, subject, w.times.length, w.ids, w.times[0]!, `${w.times.length} validation failures/errors in ${c.error_spike.window_seconds}s (fuzzing or probing)`, { errors: w.times.length });
        }
      }
    }

    if (c.enumeration.enabled && s.route && s.objectId !== '' && (s.status === 403 || s.status === 404)) {
      for (const [key, subject] of subjects) {
        const w = this.#enum.get(`${key}|${s.route}`);
        const n = w.add(s.objectId, s.at, s.requestId, c.enumeration.window_seconds * 1000, c.enumeration.distinct_ids * 4);
        if (n >= c.enumeration.distinct_ids) {
          this.#fire(out, 'enumeration', key, s, c.enumeration.severity, subject, n, w.ids, w.first, `${n} distinct object ids answered 403/404 on ${s.route} (BOLA enumeration)`, { distinct_ids: n }, { route: s.route });
        }
      }
    }

    if (c.scraping.enabled && s.route && s.status >= 200 && s.status < 300 && (s.method === 'GET' || s.method === 'HEAD')) {
      for (const [key, subject] of subjects) {
        const w = this.#scrape.get(key);
        const n = w.add(`${s.route}|${s.objectId}`, s.at, s.requestId, c.scraping.window_seconds * 1000, c.scraping.distinct_resources * 4);
        if (n >= c.scraping.distinct_resources) {
          this.#fire(out, 'scraping', key, s, c.scraping.severity, subject, n, w.ids, w.first, `${n} distinct resources fetched in ${c.scraping.window_seconds}s (scraping)`, { distinct_resources: n });
        }
      }
    }

    if (c.key_many_ips.enabled && s.keyId) {
      const w = this.#keyIps.get(s.keyId);
      const n = w.add(s.ip, s.at, s.requestId, c.key_many_ips.window_seconds * 1000, c.key_many_ips.distinct_ips * 4);
      if (n >= c.key_many_ips.distinct_ips) {
        this.#fire(out, 'key_many_ips', `key:${s.keyId}`, s, c.key_many_ips.severity, { keyId: s.keyId, consumer: s.consumer, subject: s.subject }, n, w.ids, w.first, `API key used from ${n} distinct IPs in ${c.key_many_ips.window_seconds}s (leaked key)`, { distinct_ips: n });
      }
    }

    if (c.rate_spike.enabled) {
      for (const [key, subject] of subjects) this.#rateSpike(out, key, subject, s);
    }
    return out;
  }

  #rateSpike(out: Detection[], key: string, subject: IncidentSubject, s: RequestSample): void {
    const c = this.#config.rate_spike;
    const windowMs = c.window_seconds * 1000;
    const st = this.#spike.get(key);
    if (st.windowStart === 0) st.windowStart = s.at;
    while (s.at >= st.windowStart + windowMs) {
      // Close the window: fold its count into the baseline (empty windows pull the baseline down).
      st.ewma = st.ewma === undefined ? st.count : c.alpha * st.count + (1 - c.alpha) * st.ewma;
      st.windowStart += windowMs;
      st.count = 0;
      st.ids = [];
      if (s.at - st.windowStart > windowMs * 50) st.windowStart = s.at; // long idle: skip ahead, bounded loop
    }
    st.count++;
    st.ids.push(s.requestId);
    if (st.ids.length > SAMPLE_IDS) st.ids.shift();
    const baseline = st.ewma ?? 0;
    if (st.count >= c.min_requests && st.count > c.factor * baseline) {
      this.#fire(out, 'rate_spike', key, s, c.severity, subject, st.count, st.ids, st.windowStart, `${st.count} requests in ${c.window_seconds}s vs a baseline of ${baseline.toFixed(1)} (rate spike)`, { requests: st.count, baseline: Math.round(baseline * 10) / 10 });
    }
  }

  #fire(
    out: Detection[],
    kind: string,
    key: string,
    s: RequestSample,
    severity: Severity,
    subject: IncidentSubject,
    count: number,
    ids: readonly string[],
    firstAt: number,
    summary: string,
    counts: Record<string, number>,
    extra?: Record<string, string>,
  ): void {
    const dedup = `${kind}:${key}`;
    const last = this.#lastFired.get(dedup);
    if (last !== undefined && s.at - last < 1000) return;
    this.#lastFired.set(dedup, s.at);
    if (this.#lastFired.size > MAX_KEYS) this.#lastFired.delete(this.#lastFired.keys().next().value!);
    void extra;
    out.push({ kind, severity, subject, summary, count, requestIds: [...ids], counts, firstAt, lastAt: s.at });
  }
}
