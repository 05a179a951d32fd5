import type { RequestContext, CompiledRoute, RequestStage, TraceSpan, UpstreamResponse } from './types.ts';

/**
 * What the runner needs from the layers above it, passed in by the composition root (server/): the proxy call
 * (stage 11), the one writer of client responses, and the release of an upstream body nobody will send.
 */
export interface PipelineEnds {
  proxy(ctx: RequestContext, route: CompiledRoute): Promise<UpstreamResponse>;
  /** Writes the checked response; resolves with an error code when streaming failed, else undefined. */
  respond(ctx: RequestContext, response: UpstreamResponse): Promise<string | undefined> | undefined;
  discard(response: UpstreamResponse): void;
}

/**
 * The one runner of a matched route: request stages in their fixed order (stages 4–10), the proxy, then the
 * response stages in their fixed order (`RESPONSE_STAGES`), then the answer. `ctx.deniedBy` names the stage running
 * at each moment, so a throw from any of them is attributed; the caller turns every throw into a deny (fail closed).
 * A client that left while the request stages ran gets nothing forwarded (HTTP/2 rapid reset must not become
 * upstream load); an upstream body is released when a response stage refuses it.
 */
export async function runRoute(ctx: RequestContext, route: CompiledRoute, ends: PipelineEnds): Promise<void> {
  await runRequestStages(ctx, route);
  if (ctx.clientGone) return;
  const trace = ctx.trace;

  const response = await ends.proxy(ctx, route);
  const span = trace?.span('response', { 'http.response.status_code': response.status });
  try {
    for (const policy of route.responsePolicies) {
      ctx.deniedBy = policy.name;
      const pending = policy.run(ctx, response);
      if (pending) await pending;
    }
    ctx.deniedBy = undefined;
  } catch (error) {
    span?.end(error);
    ends.discard(response);
    throw error;
  }
  let streamError: string | undefined;
  try {
    streamError = await ends.respond(ctx, response);
  } catch (error) {
    span?.end(error);
    throw error;
  }
  if (streamError !== undefined) ctx.notes.streamError = streamError;
  span?.end();
}

/**
 * The request stages of a route in their fixed order (an HTTP request before its proxy call, a WebSocket upgrade
 * before its relay; `only` narrows them to one stage, for an open WebSocket's credential check). Throws to deny.
 */
export async function runRequestStages(ctx: RequestContext, route: CompiledRoute, only?: RequestStage): Promise<void> {
  const trace = ctx.trace;
  for (const policy of route.policies) {
    if (only !== undefined && policy.stage !== only) continue;
    ctx.deniedBy = policy.name;
    if (trace !== undefined) {
      await traced(trace.span(policy.stage, { 'rampart.policy': policy.name }), () => policy.run(ctx));
      continue;
    }
    const pending = policy.run(ctx);
    if (pending !== undefined) await pending;
  }
  ctx.deniedBy = undefined;
}

/** Runs one stage inside its span; the span ends with the stage, carrying the error code when the stage denied. */
async function traced(span: TraceSpan, run: () => void | Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    span.end(error);
    throw error;
  }
  span.end();
}
