import { secretRef } from '../config/refs.ts';

const severity = <const D extends string>(def: D) => ({ enum: ['low', 'medium', 'high', 'critical'], default: def, description: 'Severity of the incident it opens.' }) as const;
const enabled = { type: 'boolean', default: true, description: 'Run this detector.' } as const;
const windowSeconds = (def: number) => ({ type: 'integer', minimum: 1, maximum: 86400, default: def, description: 'Sliding window, in seconds.' }) as const;
const count = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000, default: def, description }) as const;

const detector = <const P extends Record<string, unknown>, const D extends string>(properties: P, description: D, def: 'low' | 'medium' | 'high' | 'critical') =>
  ({ type: 'object', additionalProperties: false, default: {}, description, properties: { enabled, severity: severity(def), ...properties } }) as const;

/** `monitor:` — anomaly detectors, incident response and alerts. */
export const monitorSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Anomaly detection, automated incident response and alerting. See docs/monitoring.md and docs/incident-response.md.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Run detectors (needs the audit store for incidents).' },
    interval_ms: { type: 'integer', minimum: 10, maximum: 60000, default: 250, description: 'How often queued request events are analysed, in ms.' },
    detectors: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Detectors, per client IP and per consumer. Thresholds count events inside the window.',
      properties: {
        auth_failures: detector(
          { threshold: count(10, 'Authentication failures from one IP (or for one subject) that open an incident.'), window_seconds: windowSeconds(60) },
          'Credential stuffing / brute force: bursts of authentication failures.',
          'high',
        ),
        rate_spike: detector(
          {
            factor: { type: 'number', minimum: 1.5, maximum: 1000, default: 10, description: 'Spike when the window count exceeds factor × the EWMA baseline.' },
            min_requests: count(300, 'Least requests in one window before a spike counts.'),
            window_seconds: windowSeconds(10),
            alpha: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.2, description: 'EWMA smoothing factor per window.' },
          },
          'Request-rate spikes per IP/consumer against an EWMA baseline.',
          'medium',
        ),
        enumeration: detector(
          { distinct_ids: count(20, 'Distinct object ids answered 403/404 on one route template that open an incident.'), window_seconds: windowSeconds(60) },
          'Object enumeration (BOLA probing): many distinct ids answered 403/404.',
          'high',
        ),
        scraping: detector(
          { distinct_resources: count(300, 'Distinct resources (route + ids) successfully fetched in the window.'), window_seconds: windowSeconds(60) },
          'Scraping: a high rate of distinct resources.',
          'medium',
        ),
        error_spike: detector(
          {
            threshold: count(30, 'Validation failures / 4xx-5xx errors (other than auth) in the window.'),
            window_seconds: windowSeconds(60),
          },
          'Fuzzing and probing: bursts of validation failures and errors.',
          'medium',
        ),
        key_many_ips: detector(
          { distinct_ips: count(5, 'Distinct client IPs using one API key in the window.'), window_seconds: windowSeconds(300) },
          'A leaked API key: one key used from many IPs at once.',
          'high',
        ),
      },
    },
    respond: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Automated containment when an incident opens. Every action is recorded on the incident and reversible.',
      properties: {
        min_severity: { enum: ['low', 'medium', 'high', 'critical'], default: 'medium', description: 'Least severity that triggers containment.' },
        block_ip_minutes: { type: 'integer', minimum: 0, maximum: 525600, default: 15, description: 'Block the offending IP for this long (0 = never block).' },
        suspend_keys: { type: 'boolean', default: true, description: 'Suspend the API key involved (leaked-key and abuse incidents).' },
        revoke_tokens: { type: 'boolean', default: false, description: "Revoke the subject's tokens issued before now." },
        tighten_rate_limit: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: "Tighten the consumer's rate limit instead of (or besides) blocking.",
          properties: {
            enabled: { type: 'boolean', default: false, description: 'Tighten the consumer rate limit.' },
            factor: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1, description: 'Multiplier applied to the limit.' },
            minutes: { type: 'integer', minimum: 1, maximum: 525600, default: 15, description: 'How long.' },
          },
        },
      },
    },
    alerts: {
      type: 'array',
      maxItems: 16,
      default: [],
      description: 'Webhooks that receive incident alerts, signed with HMAC-SHA-256. See docs/alerts.md.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['url', 'secret'],
        properties: {
          url: { type: 'string', pattern: '^(https?://.+|\\$\\{(env|file):[^}]+\\})$', description: 'Webhook URL (may be a reference).' },
          secret: { ...secretRef, description: 'HMAC key for the `Rampart-Signature` header, as a reference.' },
          format: { enum: ['rampart', 'slack'], default: 'rampart', description: '`slack` sends a Slack-compatible `{text, blocks}` body.' },
          min_severity: { enum: ['low', 'medium', 'high', 'critical'], default: 'low', description: 'Least severity sent.' },
          timeout_ms: { type: 'integer', minimum: 100, maximum: 60000, default: 5000, description: 'Per-attempt timeout in ms.' },
          max_attempts: { type: 'integer', minimum: 1, maximum: 20, default: 6, description: 'Attempts before dead-lettering.' },
          backoff_ms: { type: 'integer', minimum: 1, maximum: 600000, default: 500, description: 'First retry delay; doubles each attempt (capped at 60 s).' },
        },
      },
    },
    fanout: {
      type: 'object',
      additionalProperties: false,
      description: 'Scale-out: blocks and their lifting reach every instance within 1 s over Redis pub/sub.',
      required: ['redis_url'],
      properties: {
        redis_url: { type: 'string', minLength: 1, description: 'Redis URL (a reference when it holds a password).' },
        channel: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,128}$', default: 'rampart:blocks', description: 'Pub/sub channel.' },
      },
    },
  },
} as const;

export type Severity = 'low' | 'medium' | 'high' | 'critical';

interface DetectorBase {
  readonly enabled: boolean;
  readonly severity: Severity;
  readonly window_seconds: number;
}

export interface AlertConfig {
  readonly url: string;
  readonly secret: string;
  readonly format: 'rampart' | 'slack';
  readonly min_severity: Severity;
  readonly timeout_ms: number;
  readonly max_attempts: number;
  readonly backoff_ms: number;
}

export interface MonitorConfig {
  readonly enabled: boolean;
  readonly interval_ms: number;
  readonly detectors: {
    readonly auth_failures: DetectorBase & { readonly threshold: number };
    readonly rate_spike: DetectorBase & { readonly factor: number; readonly min_requests: number; readonly alpha: number };
    readonly enumeration: DetectorBase & { readonly distinct_ids: number };
    readonly scraping: DetectorBase & { readonly distinct_resources: number };
    readonly error_spike: DetectorBase & { readonly threshold: number };
    readonly key_many_ips: DetectorBase & { readonly distinct_ips: number };
  };
  readonly respond: {
    readonly min_severity: Severity;
    readonly block_ip_minutes: number;
    readonly suspend_keys: boolean;
    readonly revoke_tokens: boolean;
    readonly tighten_rate_limit: { readonly enabled: boolean; readonly factor: number; readonly minutes: number };
  };
  readonly alerts: readonly AlertConfig[];
  readonly fanout?: { readonly redis_url: string; readonly channel: string };
}
