import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../problem.ts';
import type { CompiledRoute, RequestContext, UpstreamResponse } from '../pipeline/types.ts';
import type { Outcome, Target } from './balancer/balancer.ts';
import { backoffMs, isIdempotent } from './balancer/retry.ts';
import type { RetryConfig } from './balancer/schema.ts';
import { discardBody, forward, type ForwardOptions } from './forward.ts';
import type { PooledUpstream } from './pools.ts';

/** Connection failures a retry can cure: the upstream never got the request, or the connection broke under it. */
const RETRYABLE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED']);

/** The proxy's errors that are the upstream's doing (connection failures and timeouts; proxy/forward.ts upstreamError). */
const UPSTREAM_FAILURES = new Set(['upstream_unavailable', 'upstream_timeout']);

function causeCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ?? '';
}

/**
 * Stage 11 over an upstream's targets: picks a target in rotation, forwards (proxy/forward.ts), counts the outcome
 * for passive health, and retries on another target when the request may be retried. A retry needs an idempotent
 * method, a body that can be sent again (none, or buffered by a stage), a retryable failure (a connection error or
 * a status in `retries.on_status`), a try left and room in the upstream's retry budget; it waits a jittered
 * backoff first. Nothing has reached the client at that point: responses are written only after this returns.
 * No target in rotation is a 503 at once.
 */
export async function dispatch(
  ctx: RequestContext,
  route: CompiledRoute,
  upstream: PooledUpstream,
  /** The headers signed for each try (the identity assertion: a new jti per try). */
  perTry: () => Promise<Record<string, string> | undefined> | undefined,
  options: Omit<ForwardOptions, 'pool' | 'extraHeaders'>,
): Promise<UpstreamResponse> {
  const { balancer, retries } = upstream;
  const policy = balancer.config.retries;
  retries.request();
  const replayable = policy.attempts > 0 && isIdempotent(ctx.method) && (!ctx.hasBody || ctx.bufferedBody !== undefined);
  let tried: Set<Target> | undefined;
  // Retries start within half the upstream's headers timeout of the first try: a slow failure is not waited for
  // again and again (the client's wait stays bounded whatever `attempts` says).
  const retryUntil = Date.now() + route.upstream.headers_timeout_ms / 2;
  for (let attempt = 0; ; attempt++) {
    // Another target when there is one; the same one again when it is the only one left (a stale keep-alive
    // connection reset under a request is the common case for a single instance).
    const target = balancer.require(tried);
    ctx.notes.upstreamTarget = target.label;
    const mayRetry = () => replayable && attempt < policy.attempts && !ctx.clientGone && Date.now() < retryUntil && retries.take();
    let response: UpstreamResponse;
    target.inFlight++;
    try {
      const extraHeaders = await perTry();
      response = await forward(ctx, route, { ...options, pool: target.pool, origin: target.url, ...(extraHeaders ? { extraHeaders } : {}) });
    } catch (error) {
      target.inFlight--;
      const code = causeCode(error);
      // Only the upstream's own failures count against it: not a client that left, nor the gateway's limits
      // (its response buffer cap, a body over the route's cap).
      if (!ctx.clientGone && error instanceof GatewayError && UPSTREAM_FAILURES.has(error.code)) balancer.record(target, passiveOutcome(code));
      if (!RETRYABLE_ERRORS.has(code) || !mayRetry()) throw error;
      (tried ??= new Set()).add(target);
      await retryAfter(ctx, policy, attempt, error);
      continue;
    }
    // In flight until its body is done: a streamed answer (a download, an event stream) still loads the target.
    if (response.stream) response.stream.once('close', () => target.inFlight--);
    else target.inFlight--;
    const failed = response.status >= 502 && response.status <= 504;
    balancer.record(target, failed ? 'failed' : 'ok');
    if (!policy.on_status.includes(response.status) || !mayRetry()) return response;
    discardBody(response.stream);
    (tried ??= new Set()).add(target);
    await retryAfter(ctx, policy, attempt, new GatewayError('upstream_unavailable', `upstream answered ${response.status}`));
  }
}

function passiveOutcome(code: string): Outcome {
  return code === 'ECONNREFUSED' ? 'refused' : 'failed';
}

/** Waits the backoff before retry `attempt + 1`; a client that left meanwhile ends the request with `failure`. */
async function retryAfter(ctx: RequestContext, policy: RetryConfig, attempt: number, failure: unknown): Promise<void> {
  ctx.notes.retries = attempt + 1;
  const wait = backoffMs(policy, attempt + 1);
  if (wait > 0) await sleep(wait);
  if (ctx.clientGone) throw failure;
}
