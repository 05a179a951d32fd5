import { durationMs, secretRef } from '../config/refs.ts';
import type { ConfigIssue } from '../config/errors.ts';
import { isLoopbackHost } from '../http/hosts.ts';

/** `tracing:` — OpenTelemetry traces exported over OTLP/HTTP. Absent or `enabled: false`: no SDK is even loaded. */
export const tracingSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'OpenTelemetry tracing: a server span per request with a child span per pipeline stage and the upstream call, W3C Trace Context propagated upstream, exported over OTLP/HTTP (JSON). See docs/tracing.md.',
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Trace requests. Off: no tracing code runs at all.' },
    endpoint: {
      type: 'string',
      pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
      maxLength: 2048,
      description: 'OTLP/HTTP traces URL, e.g. `http://otel-collector:4318/v1/traces`. Required when enabled.',
    },
    insecure: {
      type: 'boolean',
      default: false,
      description: 'Allow a plain `http://` endpoint on a host other than loopback (spans carry client addresses and routes; send them over TLS).',
    },
    headers: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,128}$' },
      additionalProperties: { ...secretRef, description: 'A header value for the collector, as a reference (it usually is a credential).' },
      default: {},
      description: 'Headers sent with every export (collector credentials): values are `${env:…}`/`${file:…}` references.',
    },
    service_name: { type: 'string', minLength: 1, maxLength: 128, default: 'rampart', description: 'The `service.name` resource attribute.' },
    sample_ratio: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      default: 1,
      description: 'Share of new traces recorded (trace-id ratio). A request continuing a trace follows its caller\'s sampled flag.',
    },
    trust_incoming: {
      enum: ['always', 'trusted_proxies', 'never'],
      default: 'trusted_proxies',
      description:
        'Whose `traceparent`/`tracestate` the gateway continues: only peers in `trusted_proxies` (the default; with none configured, nobody), any client, or nobody. An incoming context not trusted starts a new trace (linked to it) and is not forwarded upstream, and its sampled flag is ignored. A trusted proxy must set or strip `traceparent` itself: it is believed as it arrives.',
    },
    export_interval_ms: durationMs(2000, 'Spans are batched and exported at least this often (ms).', 60_000),
    export_timeout_ms: durationMs(10000, 'One export may take this long before it is abandoned (ms).', 60_000),
    max_queue: {
      type: 'integer',
      minimum: 64,
      maximum: 65536,
      default: 4096,
      description: 'Finished spans held for export; past this, new spans are dropped (and counted) rather than memory growing when the collector is slow or down.',
    },
  },
} as const;

export interface TracingConfig {
  readonly enabled: boolean;
  readonly endpoint?: string;
  readonly insecure: boolean;
  readonly headers: Readonly<Record<string, string>>;
  readonly service_name: string;
  readonly sample_ratio: number;
  readonly trust_incoming: 'always' | 'trusted_proxies' | 'never';
  readonly export_interval_ms: number;
  readonly export_timeout_ms: number;
  readonly max_queue: number;
}

/** What the schema cannot say: an endpoint when enabled, and TLS to a collector off this host unless `insecure`. */
export function checkTracingConfig(tracing: TracingConfig | undefined): ConfigIssue[] {
  if (!tracing?.enabled) return [];
  if (tracing.endpoint === undefined) {
    return [{ path: 'tracing.endpoint', message: 'is required when tracing is enabled', hint: 'set endpoint: http://127.0.0.1:4318/v1/traces (an OpenTelemetry collector)' }];
  }
  const url = new URL(tracing.endpoint);
  if (url.username !== '' || url.password !== '') {
    return [{ path: 'tracing.endpoint', message: 'a literal credential is not allowed in the URL', hint: 'send it as a header: headers: { authorization: ${env:OTLP_AUTHORIZATION} }' }];
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !tracing.insecure) {
    return [{ path: 'tracing.endpoint', message: 'sends spans in plain HTTP to another host', hint: 'use https://, a collector on loopback, or set tracing.insecure: true' }];
  }
  return [];
}
