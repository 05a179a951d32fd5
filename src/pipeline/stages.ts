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

/** The upstream response as response policies see it. `body` is present only if some policy asked to buffer it. */
export interface ProxiedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | undefined;
}

/**
 * A compiled response policy (stage 12). Policies with `needsBody` make the proxy buffer the upstream body (up to
 * the route's response cap) before they run.
 */
export interface ResponsePolicy {
  readonly name: string;
  readonly needsBody: boolean;
  run(ctx: RequestContext, response: ProxiedResponse): void | Promise<void>;
}

/** Called once per finished request (stage 13): access log, audit, metrics, monitor. Must not throw or block. */
export interface RecordSink {
  record(ctx: RequestContext, status: number): void;
}

const STAGE_INDEX = new Map<string, number>(REQUEST_STAGES.map((s, i) => [s, i]));

/** Sorts policies into the fixed stage order (stable within a stage). */
export function orderPolicies(policies: readonly RequestPolicy[]): RequestPolicy[] {
  return [...policies].sort((a, b) => STAGE_INDEX.get(a.stage)! - STAGE_INDEX.get(b.stage)!);
}
