import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { PreboundCounter, PreboundHistogram } from './prebound.ts';
import type { FallbackEvent } from '../counters/index.ts';
import type { RecordSink, RequestOutcome } from '../pipeline/types.ts';
import type { SecurityEvent } from '../bus/events.ts';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SAFE_LABEL = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Labels only ever hold bounded, non-secret values: names from config/spec, status codes, reason codes. */
const label = (value: unknown, fallback = 'none'): string => (typeof value === 'string' && SAFE_LABEL.test(value) ? value : fallback);

const AUTH_CODES = new Set(['unauthorized', 'invalid_token']);
const RATE_CODES = new Set(['rate_limited', 'too_many_concurrent', 'account_locked', 'auth_backoff']);
const UPSTREAM_CODES = new Set(['upstream_unavailable', 'upstream_timeout', 'upstream_invalid_response']);

/** Gauges whose value is read at scrape time. */
export interface MetricSources {
  activeIncidents?(): Record<string, number>;
  blockedIps?(): number;
  /** The newest signed audit head (undefined before the first, or without an audit trail). */
  auditHead?(): { readonly seq: number; readonly time: string } | undefined;
  /** Rejected audit head files not yet acknowledged, by rejection reason. */
  auditHeadRejections?(): Record<string, number>;
  /** Audit records refused (queue full, log closed) since start. */
  auditRefused?(): number;
}

/** The upstream targets' state (proxy/pools.ts), read at scrape time. */
export type UpstreamTargetStates = () => readonly { readonly upstream: string; readonly target: string; readonly inRotation: boolean; readonly inFlight: number }[];

/**
 * Rampart's Prometheus metrics on their own Registry (never the global one). The record sink updates counters and
 * histograms per finished request; no raw path, user id, IP or secret is ever a label.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: PreboundCounter;
  readonly #overhead: PreboundHistogram;
  readonly #upstream: PreboundHistogram;
  readonly #upstreamErrors: Counter<'upstream' | 'code'>;
  /** rampart_upstream_up per upstream label, read at scrape time. */
  readonly #upstreamUp = new Map<string, number>();
  readonly #denies: Counter<'api' | 'stage' | 'code'>;
  readonly #authFailures: Counter<'method' | 'reason'>;
  readonly #rateLimited: Counter<'api' | 'stage'>;
  readonly #validation: Counter<'api' | 'operation'>;
  readonly #events: Counter<'type' | 'reason'>;
  readonly #wafHits: Counter<'api' | 'family' | 'rule' | 'mode'>;
  readonly auditRecords: Counter;
  /** Requests whose auth failure was already counted from the event bus (bounded). */
  readonly #authEventRequests = new Set<string>();
  readonly incidentsOpened: Counter<'kind' | 'severity'>;
  readonly containment: Counter<'action'>;
  readonly alertDeliveries: Counter<'result'>;
  readonly #counterFallbacks: Counter<'backend' | 'reason' | 'limit'>;
  /** Exceptions that escaped the pipeline's own handling, caught by the crash guard (server/crash-guard.ts). */
  readonly strayErrors: Counter<'origin' | 'scope'>;
  readonly #upstreamRetries: Counter<'upstream'>;
  readonly #upstreamEjections: Counter<'upstream' | 'target' | 'reason'>;
  readonly #upstreamHealthChanges: Counter<'upstream' | 'target' | 'healthy'>;

  /** @param defaultMetrics also collect Node process metrics (default true). */
  constructor(sources: MetricSources = {}, defaultMetrics = true) {
    const registers = [this.registry];
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'rampart_' });
    const registry = this.registry;
    this.#requests = new PreboundCounter({ name: 'rampart_requests_total', help: 'Requests by API, operation, status and decision.', labelNames: ['api', 'operation', 'status', 'decision'], registry });
    this.#overhead = new PreboundHistogram({ name: 'rampart_gateway_overhead_seconds', help: 'Time spent in Rampart itself (total minus upstream).', labelNames: ['api'], buckets: LATENCY_BUCKETS, registry });
    this.#upstream = new PreboundHistogram({ name: 'rampart_upstream_duration_seconds', help: 'Time waiting on the upstream.', labelNames: ['upstream'], buckets: LATENCY_BUCKETS, registry });
    this.#upstreamErrors = new Counter({ name: 'rampart_upstream_errors_total', help: 'Upstream failures (503/502/504) by upstream and code.', labelNames: ['upstream', 'code'], registers });
    const upstreamUp = this.#upstreamUp;
    new Gauge({
      name: 'rampart_upstream_up',
      help: '1 when the last exchange with the upstream succeeded, 0 after a failure.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const [upstream, up] of upstreamUp) this.set({ upstream }, up);
      },
    });
    this.#denies = new Counter({ name: 'rampart_denies_total', help: 'Denied requests by API, stage and error code.', labelNames: ['api', 'stage', 'code'], registers });
    this.#authFailures = new Counter({ name: 'rampart_auth_failures_total', help: 'Authentication failures by method and reason code.', labelNames: ['method', 'reason'], registers });
    this.#rateLimited = new Counter({ name: 'rampart_rate_limited_total', help: 'Rate-limit, concurrency and lockout rejections.', labelNames: ['api', 'stage'], registers });
    this.#validation = new Counter({ name: 'rampart_validation_failures_total', help: 'Request validation failures.', labelNames: ['api', 'operation'], registers });
    this.#events = new Counter({ name: 'rampart_security_events_total', help: 'Security events from the event bus.', labelNames: ['type', 'reason'], registers });
    this.#wafHits = new Counter({ name: 'rampart_waf_hits_total', help: 'WAF detections (request injections and response leaks) by API, family, rule and mode.', labelNames: ['api', 'family', 'rule', 'mode'], registers });
    this.auditRecords = new Counter({ name: 'rampart_audit_records_total', help: 'Audit records committed.', registers });
    this.incidentsOpened = new Counter({ name: 'rampart_incidents_opened_total', help: 'Incidents opened by detector and severity.', labelNames: ['kind', 'severity'], registers });
    this.containment = new Counter({ name: 'rampart_containment_actions_total', help: 'Automated containment actions.', labelNames: ['action'], registers });
    this.strayErrors = new Counter({ name: 'rampart_stray_errors_total', help: 'Exceptions caught by the process guard instead of ending the process, by origin and whether a request was hit.', labelNames: ['origin', 'scope'], registers });
    this.#upstreamRetries = new Counter({ name: 'rampart_upstream_retries_total', help: 'Requests sent to an upstream again (another try), by upstream.', labelNames: ['upstream'], registers });
    this.#upstreamEjections = new Counter({ name: 'rampart_upstream_ejections_total', help: 'Upstream targets taken out of rotation by passive health, by upstream, target and reason.', labelNames: ['upstream', 'target', 'reason'], registers });
    this.#upstreamHealthChanges = new Counter({ name: 'rampart_upstream_health_changes_total', help: 'Active health check verdict changes, by upstream, target and new state.', labelNames: ['upstream', 'target', 'healthy'], registers });
    this.alertDeliveries = new Counter({ name: 'rampart_alert_deliveries_total', help: 'Alert webhook deliveries by result.', labelNames: ['result'], registers });
    this.#counterFallbacks = new Counter({
      name: 'rampart_counter_fallback_total',
      help: 'Rate-limit decisions and lockout lookups made locally because the shared counter backend did not answer, by backend, reason and limit name.',
      labelNames: ['backend', 'reason', 'limit'],
      registers,
    });
    new Gauge({
      name: 'rampart_incidents_active',
      help: 'Open incidents by severity.',
      labelNames: ['severity'],
      registers,
      collect() {
        this.reset();
        for (const [sev, n] of Object.entries(sources.activeIncidents?.() ?? {})) this.set({ severity: label(sev) }, n);
      },
    });
    new Gauge({
      name: 'rampart_blocked_ips',
      help: 'Client IPs currently blocked by incident response.',
      registers,
      collect() {
        this.set(sources.blockedIps?.() ?? 0);
      },
    });
    if (sources.auditHead) {
      const head = sources.auditHead;
      new Gauge({
        name: 'rampart_audit_head_seq',
        help: 'Seq of the newest signed audit head (0 before the first).',
        registers,
        collect() {
          this.set(head()?.seq ?? 0);
        },
      });
      new Gauge({
        name: 'rampart_audit_head_age_seconds',
        help: 'Seconds since the newest audit head was signed (NaN before the first); grows while no records are committed.',
        registers,
        collect() {
          const time = head()?.time;
          this.set(time === undefined ? Number.NaN : Math.max(0, (Date.now() - Date.parse(time)) / 1000));
        },
      });
    }
    if (sources.auditRefused) {
      const refused = sources.auditRefused;
      new Counter({
        name: 'rampart_audit_records_refused_total',
        help: 'Audit records refused (queue full or log closed) and so not in the trail; a sync-durability request whose record is refused is answered 503.',
        registers,
        collect() {
          this.reset();
          this.inc(refused());
        },
      });
    }
    if (sources.auditHeadRejections) {
      const rejections = sources.auditHeadRejections;
      new Gauge({
        name: 'rampart_audit_head_rejected',
        help: 'Audit head files rejected at start (store truncated, emptied or diverged, or head unverifiable) and not yet acknowledged, by reason.',
        labelNames: ['reason'],
        registers,
        collect() {
          this.reset();
          for (const [reason, n] of Object.entries(rejections())) this.set({ reason: label(reason) }, n);
        },
      });
    }
  }

  /** Gauges of the upstream targets (in rotation, requests in flight) and the counters of their ejections and health. */
  watchUpstreams(states: UpstreamTargetStates): { ejected(upstream: string, target: string, forMs: number, reason: string): void; health(upstream: string, target: string, healthy: boolean): void } {
    const registers = [this.registry];
    new Gauge({
      name: 'rampart_upstream_target_in_rotation',
      help: '1 when the upstream target receives requests (healthy and not ejected), else 0.',
      labelNames: ['upstream', 'target'],
      registers,
      collect() {
        this.reset();
        for (const s of states()) this.set({ upstream: label(s.upstream), target: label(s.target.replace(/[[\]]/g, ''), 'other') }, s.inRotation ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rampart_upstream_target_in_flight',
      help: 'Requests in flight to the upstream target.',
      labelNames: ['upstream', 'target'],
      registers,
      collect() {
        this.reset();
        for (const s of states()) this.set({ upstream: label(s.upstream), target: label(s.target.replace(/[[\]]/g, ''), 'other') }, s.inFlight);
      },
    });
    return {
      ejected: (upstream, target, _forMs, reason) => this.#upstreamEjections.inc({ upstream: label(upstream), target: label(target.replace(/[[\]]/g, ''), 'other'), reason: label(reason) }),
      health: (upstream, target, healthy) => this.#upstreamHealthChanges.inc({ upstream: label(upstream), target: label(target.replace(/[[\]]/g, ''), 'other'), healthy: healthy ? 'true' : 'false' }),
    };
  }

  /** The record sink (stage 13). */
  readonly sink: RecordSink = {
    record: (outcome: RequestOutcome) => this.#record(outcome),
  };

  /** Counts one local fallback decision of the counters (Counters.onFallback). */
  counterFallback(event: FallbackEvent): void {
    this.#counterFallbacks.inc({ backend: event.backend, reason: event.reason, limit: label(event.limit) });
  }

  /** Counts a security event from the bus. */
  onEvent(event: SecurityEvent): void {
    this.#events.inc({ type: event.type, reason: label(event.reason) });
    if (event.type === 'waf.hit' || event.type === 'waf.leak') {
      const f = event.fields ?? {};
      this.#wafHits.inc({ api: label(f['api']), family: label(f['family']), rule: label(f['rule']), mode: label(f['mode']) });
    }
    if (event.type === 'auth.failure') {
      this.#authFailures.inc({ method: label(event.method, 'unknown'), reason: label(event.reason, 'unknown') });
      if (event.requestId) {
        this.#authEventRequests.add(event.requestId);
        if (this.#authEventRequests.size > 10_000) this.#authEventRequests.delete(this.#authEventRequests.values().next().value!);
      }
    }
  }

  #record(o: RequestOutcome): void {
    const route = o.compiled;
    const api = label(o.api);
    const operation = label(o.operationId, 'unmatched');
    this.#requests.cell(api, operation, o.status, o.decision).value++;
    this.#overhead.cell(api).observe(Math.max(0, Number(o.totalNs - o.upstreamNs)) / 1e9);
    const code = o.code;
    if (route) {
      const upstream = label(route.upstreamName);
      if (o.upstreamNs > 0n) this.#upstream.cell(upstream).observe(Number(o.upstreamNs) / 1e9);
      if (o.notes.retries) this.#upstreamRetries.inc({ upstream }, o.notes.retries);
      if (code && UPSTREAM_CODES.has(code)) {
        this.#upstreamErrors.inc({ upstream, code });
        this.#upstreamUp.set(upstream, 0);
      } else if (o.upstreamStatus !== undefined) {
        this.#upstreamUp.set(upstream, o.upstreamStatus >= 500 ? 0 : 1);
      }
    }
    if (o.decision === 'allow' || !code) return;
    this.#denies.inc({ api, stage: label(o.stage), code });
    if (AUTH_CODES.has(code) && !this.#authEventRequests.delete(o.requestId)) {
      // Authenticators note a bounded failure reason (unknown_key, expired, …); no method at all: no credential.
      const failure = o.notes.authFailure;
      const method = label(failure?.method ?? o.notes.authMethod, code === 'unauthorized' ? 'none' : 'unknown');
      this.#authFailures.inc({ method, reason: label(failure?.reason, code) });
    }
    if (RATE_CODES.has(code)) this.#rateLimited.inc({ api, stage: label(o.stage) });
    if (code === 'validation_failed') this.#validation.inc({ api, operation });
  }
}
