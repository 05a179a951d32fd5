import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanContext, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import { GatewayError } from '../problem.ts';
import type { CompiledRoute, RequestOutcome, RequestTrace, TraceSpan } from '../pipeline/types.ts';

const SETTER: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/**
 * What a span says about the error that ended its stage: the stable error code and, for an internal error, an
 * error status. Never the message or stack: span attributes leave the process for a collector, and a message may
 * quote request data.
 */
function markError(span: Span, error: unknown): void {
  const code = error instanceof GatewayError ? error.code : 'internal';
  span.setAttribute('rampart.error_code', code);
  if (code === 'internal' || (error instanceof GatewayError && error.status >= 500)) span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/** A link to a context the gateway did not continue: its ids only, never the caller's `tracestate` text. */
function linkTo(context: Context): { context: SpanContext }[] {
  const sc = trace.getSpanContext(context);
  return sc ? [{ context: { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags, isRemote: true } }] : [];
}

class StageSpan implements TraceSpan {
  readonly #span: Span;
  readonly #propagator: W3CTraceContextPropagator;
  constructor(span: Span, propagator: W3CTraceContextPropagator) {
    this.#span = span;
    this.#propagator = propagator;
  }
  propagation(): Record<string, string> {
    const carrier: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(ROOT_CONTEXT, this.#span), carrier, SETTER);
    return carrier;
  }
  set(name: string, value: string | number): void {
    this.#span.setAttribute(name, value);
  }
  end(error?: unknown): void {
    if (error !== undefined) markError(this.#span, error);
    this.#span.end();
  }
}

/**
 * One request's trace: the server span (named `METHOD route` once routed, as the HTTP semantic conventions say) and
 * its children. Attributes carry the route template, never the raw path or query (they can carry ids and tokens,
 * which is why the access log leaves them out too), and bounded codes for the decision.
 */
export class ServerTrace implements RequestTrace {
  readonly traceId: string;
  readonly #tracer: Tracer;
  readonly #propagator: W3CTraceContextPropagator;
  readonly #span: Span;
  readonly #context: Context;

  constructor(tracer: Tracer, propagator: W3CTraceContextPropagator, parent: Context, method: string, attributes: Attributes, links: readonly Context[]) {
    this.#tracer = tracer;
    this.#propagator = propagator;
    this.#span = tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes, links: links.flatMap(linkTo) },
      parent,
    );
    this.#context = trace.setSpan(parent, this.#span);
    this.traceId = this.#span.spanContext().traceId;
  }

  routed(route: CompiledRoute): void {
    this.#span.updateName(`${route.method} ${route.template}`);
    this.#span.setAttribute('http.route', route.template);
    this.#span.setAttribute('rampart.api', route.api.name);
    if (route.operationId) this.#span.setAttribute('rampart.operation_id', route.operationId);
  }

  span(name: string, attributes?: Readonly<Record<string, string | number>>, client = false): TraceSpan {
    const span = this.#tracer.startSpan(name, { kind: client ? SpanKind.CLIENT : SpanKind.INTERNAL, ...(attributes ? { attributes } : {}) }, this.#context);
    return new StageSpan(span, this.#propagator);
  }

  finish(o: RequestOutcome): void {
    const span = this.#span;
    span.setAttribute('http.response.status_code', o.status);
    span.setAttribute('rampart.decision', o.decision);
    if (o.code) span.setAttribute('rampart.error_code', o.code);
    if (o.stage) span.setAttribute('rampart.denied_by', o.stage);
    if (o.identity) span.setAttribute('rampart.auth.method', o.identity.method);
    // Server spans: 4xx is the client's doing, not an error of this service (OpenTelemetry HTTP conventions).
    if (o.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: o.code ?? String(o.status) });
    span.end();
  }
}
