import type { Readable } from 'node:stream';
import type { RequestContext } from './context.ts';

/**
 * The fixed order of per-route request stages (DESIGN.md §3, stages 4–10, with the request limits of stage 1 that
 * depend on the route first). Policies declare their stage; compile sorts by this order; nothing can reorder it.
 */
export const REQUEST_STAGES = [
  'limits',
  'ip_filter',
  'pre_auth_rate_limit',
  'authenticate',
  'post_auth_rate_limit',
  'authorize',
  'validate',
  'waf',
] as const;

export type RequestStage = (typeof REQUEST_STAGES)[number];

/** A compiled request policy for one route. `run` denies by throwing a GatewayError; any other throw is a 500. */
export interface RequestPolicy {
  readonly name: string;
  readonly stage: RequestStage;
  run(ctx: RequestContext): void | Promise<void>;
}

/**
 * The fixed order of response stages (DESIGN.md §3 stage 12), run after the proxy on the upstream's answer:
 * `outcome` reacts to the upstream's verdict as it was sent (login failures counted), `ownership` judges the full
 * body (BOLA on reads), `contract` minimises the body, `headers` minimises the headers, and `audit_gate` holds the
 * answer until its audit record is durable, so it sees the final status.
 */
export const RESPONSE_STAGES = ['outcome', 'ownership', 'contract', 'headers', 'audit_gate'] as const;

export type ResponseStage = (typeof RESPONSE_STAGES)[number];

/** The upstream response as response policies see it. `body` is present only if some policy asked to buffer it. */
export interface ProxiedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | undefined;
}

/**
 * What the proxy returns: `body` when the route's response stages need it buffered, else `stream` (never both).
 * Whoever holds it must send `stream` on or discard it, so the upstream connection is released.
 */
export interface UpstreamResponse extends ProxiedResponse {
  stream: Readable | undefined;
}

/**
 * A compiled response policy (stage 12). Policies with `needsBody` make the proxy buffer the upstream body (up to
 * the route's response cap) before they run.
 */
export interface ResponsePolicy {
  readonly name: string;
  readonly stage: ResponseStage;
  readonly needsBody: boolean;
  run(ctx: RequestContext, response: ProxiedResponse): void | Promise<void>;
}

/** Called once per finished request (stage 13): access log, audit, metrics, monitor. Must not throw or block. */
export interface RecordSink {
  record(ctx: RequestContext, status: number): void;
}

const STAGE_INDEX = new Map<string, number>([...REQUEST_STAGES.map((s, i) => [s, i] as const), ...RESPONSE_STAGES.map((s, i) => [s, i] as const)]);

/** Sorts request or response policies into their fixed stage order (stable within a stage). */
export function orderPolicies<P extends RequestPolicy | ResponsePolicy>(policies: readonly P[]): P[] {
  const index = (p: P) => STAGE_INDEX.get(p.stage) ?? Number.MAX_SAFE_INTEGER;
  return [...policies].sort((a, b) => index(a) - index(b));
}
