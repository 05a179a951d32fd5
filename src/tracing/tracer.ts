import { ROOT_CONTEXT, diag, DiagLogLevel, trace, type Attributes, type Context, type DiagLogger, type TextMapGetter } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
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
import { DeadlineExporter, ExportConnections } from './deadline-exporter.ts';

/** Methods named as they are; any other (an HTTP/2 client may send any token) is `_OTHER`, as the HTTP conventions say. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

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
  /** Exports what is queued, for at most `withinMs`; then cuts the collector connections whatever is left. */
  shutdown(withinMs: number): Promise<void>;
}

/**
 * Builds the tracer for `tracing:` (loaded by the gateway only when `tracing.enabled`, so a gateway without
 * tracing never loads the SDK). Nothing here is process-global except the SDK's diagnostic logger: each gateway has
 * its own provider, sampler and propagator, so several gateways in one process keep their traces apart.
 */
export function createTracing(config: TracingConfig, logger: Logger): Tracing {
  installDiagLogger(logger);
  const connections = new ExportConnections();
  const otlp = new OTLPTraceExporter({
    url: config.endpoint!,
    headers: { ...config.headers },
    timeoutMillis: config.export_timeout_ms,
    // One export at a time: a collector that stalls holds one batch, not dozens.
    concurrencyLimit: 1,
    httpAgentOptions: connections.factory,
  });
  const exporter = new DeadlineExporter(otlp, config.export_timeout_ms, connections);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.service_name, 'service.version': RAMPART_VERSION }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sample_ratio) }),
    // Every value Rampart sets is bounded already; these bound what a bug or a future attribute could add.
    spanLimits: { attributeValueLengthLimit: 256, attributeCountLimit: 32, linkCountLimit: 1, eventCountLimit: 0 },
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
      const method = KNOWN_METHODS.has(ctx.method) ? ctx.method : '_OTHER';
      const attributes: Attributes = {
        'http.request.method': method,
        'url.scheme': ctx.secure ? 'https' : 'http',
        'network.protocol.version': ctx.req.httpVersion,
        'client.address': ctx.clientIp,
        'rampart.request_id': ctx.id,
      };
      return new ServerTrace(tracer, propagator, parent, method === '_OTHER' ? 'HTTP' : method, attributes, links);
    },
    async shutdown(withinMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), withinMs)));
      const outcome = await Promise.race([provider.shutdown().then(() => 'done' as const, () => 'failed' as const), late]);
      clearTimeout(timer);
      // A collector that never lets go must not keep the process alive after the gateway stopped.
      connections.cut();
      if (outcome !== 'done') logger.warn({ component: 'tracing' }, `tracing: spans still queued at shutdown were not exported (${outcome === 'late' ? `collector did not answer within ${withinMs} ms` : 'export failed'})`);
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
  // The SDK's default handler logs the whole error flattened, and an OTLP error carries the collector's response
  // body (which may echo the credential it refused): log its name, code and message only.
  setGlobalErrorHandler((error) => {
    const e = error as { name?: string; code?: unknown; message?: string };
    const code = typeof e.code === 'number' || typeof e.code === 'string' ? ` (${String(e.code).slice(0, 16)})` : '';
    adapter.warn(`export failed: ${String(e.name ?? 'Error').slice(0, 40)}${code}: ${String(e.message ?? error).split('\n')[0]!.slice(0, 160)}`);
  });
}
