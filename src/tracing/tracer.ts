import { ROOT_CONTEXT, diag, DiagLogLevel, trace, type Attributes, type Context, type DiagLogger, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { BlockList } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log.ts';
import { isTrusted, normaliseIp } from '../http/normalise.ts';
import type { RequestContext } from '../pipeline/types.ts';
import { ServerTrace } from './request-trace.ts';
import type { TracingConfig } from './schema.ts';
import { RAMPART_VERSION } from '../version.ts';

/** Reads one header for the propagator; a repeated header is not a valid trace context (W3C Trace Context §3.2). */
const GETTER: TextMapGetter<IncomingHttpHeaders> = {
  get(carrier, key) {
    const value = carrier[key];
    return Array.isArray(value) ? undefined : value;
  },
  keys(carrier) {
    return Object.keys(carrier);
  },
};

/** The gateway's tracer: starts each request's trace and flushes what is left on shutdown. */
export interface Tracing {
  begin(ctx: RequestContext, trustedProxies: BlockList | undefined): ServerTrace;
  shutdown(): Promise<void>;
}

/**
 * Builds the tracer for `tracing:` (loaded by the gateway only when `tracing.enabled`, so a gateway without
 * tracing never loads the SDK). Nothing here is process-global except the SDK's diagnostic logger: each gateway has
 * its own provider, sampler and propagator, so several gateways in one process keep their traces apart.
 */
export function createTracing(config: TracingConfig, logger: Logger): Tracing {
  installDiagLogger(logger);
  const exporter = new OTLPTraceExporter({
    url: config.endpoint!,
    headers: { ...config.headers },
    timeoutMillis: config.export_timeout_ms,
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.service_name, 'service.version': RAMPART_VERSION }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sample_ratio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: config.max_queue,
        maxExportBatchSize: Math.min(512, config.max_queue),
        scheduledDelayMillis: config.export_interval_ms,
        exportTimeoutMillis: config.export_timeout_ms,
      }),
    ],
  });
  const tracer = provider.getTracer('rampart', RAMPART_VERSION);
  const propagator = new W3CTraceContextPropagator();

  return {
    begin(ctx, trustedProxies) {
      const incoming = ctx.headers['traceparent'] === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, ctx.headers, GETTER);
      const trusted = incoming !== ROOT_CONTEXT && trusts(config.trust_incoming, ctx, trustedProxies);
      const parent: Context = trusted ? incoming : ROOT_CONTEXT;
      const links = !trusted && trace.getSpanContext(incoming) ? [incoming] : [];
      const attributes: Attributes = {
        'http.request.method': ctx.method,
        'url.scheme': ctx.secure ? 'https' : 'http',
        'network.protocol.version': ctx.req.httpVersion,
        'client.address': ctx.clientIp,
        'rampart.request_id': ctx.id,
      };
      return new ServerTrace(tracer, propagator, parent, ctx.method, attributes, links);
    },
    async shutdown() {
      await provider.shutdown().catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'trace export at shutdown failed'));
    },
  };
}

function trusts(mode: TracingConfig['trust_incoming'], ctx: RequestContext, trustedProxies: BlockList | undefined): boolean {
  if (mode === 'always') return true;
  if (mode === 'never' || trustedProxies === undefined) return false;
  return isTrusted(trustedProxies, normaliseIp(ctx.req.socket?.remoteAddress));
}

const DIAG_REPEAT_MS = 30_000;

/**
 * Routes the SDK's own warnings (export failures, a full span queue) to the gateway log, each distinct message at
 * most once per 30 s: a collector that is down must not flood the log. The SDK's diagnostic logger is process-wide.
 */
function installDiagLogger(logger: Logger): void {
  const lastSeen = new Map<string, number>();
  const emit = (level: 'warn' | 'error') => (message: string) => {
    const now = Date.now();
    const key = message.slice(0, 120).replace(/[0-9]+/g, 'N');
    if ((lastSeen.get(key) ?? -Infinity) > now - DIAG_REPEAT_MS) return;
    if (lastSeen.size > 256) lastSeen.clear();
    lastSeen.set(key, now);
    logger[level]({ component: 'tracing' }, `tracing: ${message.slice(0, 500)}`);
  };
  const noop = () => undefined;
  const adapter: DiagLogger = { error: emit('error'), warn: emit('warn'), info: noop, debug: noop, verbose: noop };
  diag.setLogger(adapter, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}
