import { ConfigIssueError } from '../../config/errors.ts';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError, type Decision, type LimitSpec } from '../../counters/types.ts';
import type { Identity, RequestContext, RequestPolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import type { SecurityEvents } from '../../bus/events.ts';
import { loginOf } from '../bruteforce/login.ts';
import { compileKey, type KeyExtractor } from './keys.ts';
import type { RateLimitConfig } from './schema.ts';
import { limitSpecOf, policyItem } from './spec.ts';

/** One limit compiled for one route. */
interface CompiledLimit {
  readonly name: string;
  readonly spec: LimitSpec;
  readonly keyOf: KeyExtractor;
  /** Counter key prefix: which limit (and API or plan) this is. */
  readonly scope: string;
  readonly stage: 'pre_auth' | 'post_auth';
  readonly action: 'reject' | 'delay';
  readonly maxDelayMs: number;
  readonly failure: 'open' | 'closed';
  /** This limit's item of the `RateLimit-Policy` header. */
  readonly item: string;
}

const POST_AUTH_KEYS = /^(consumer|api_key|cel:)/;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Decides one request against the shared backend under a failure policy: when the backend cannot answer, `open`
 * decides in local memory instead (on this instance's share of the limit) and `closed` denies with 503. `owner`
 * (the request) makes all its counter calls share one wait budget. Other errors propagate (the stage fails closed).
 */
export async function decideWithFailurePolicy(
  counters: Counters,
  key: string,
  spec: LimitSpec,
  failure: 'open' | 'closed',
  limit = 'unnamed',
  owner?: object,
): Promise<Decision> {
  try {
    return await counters.decide(key, spec, { failure, limit, ...(owner ? { owner } : {}) });
  } catch (error) {
    if (!(error instanceof CounterUnavailableError)) throw error;
    throw new GatewayError('service_unavailable', 'rate-limit backend unavailable; limit fails closed', { cause: error, headers: { 'retry-after': '1' } });
  }
}

/** The plan of a consumer: a `plan` field on the identity (set by API-key authentication) or the `plan` claim. */
export function planOf(identity: Identity | undefined): string | undefined {
  if (!identity) return undefined;
  const own = (identity as { readonly plan?: unknown }).plan;
  if (typeof own === 'string') return own;
  const claim = identity.claims['plan'];
  return typeof claim === 'string' ? claim : undefined;
}

/**
 * Compiles the rate limits of one route into at most two request policies: `pre_auth_rate_limit` (IP, route,
 * header limits by default) and `post_auth_rate_limit` (consumer, API key, CEL and plan limits). Throws an Error
 * naming the config path when a limit is malformed. Returns [] when the route has no limits.
 */
export function createRateLimitPolicies(input: PolicyBuildInput): RequestPolicy[] {
  const { api, apiIndex, operationId, config } = input;
  const isLogin = loginOf(input) !== undefined;
  const route = { api: api.name, operationId, method: input.method, template: input.operation?.path ?? '*', ipv6Prefix: config.counters?.ipv6_prefix };
  const applies = (l: RateLimitConfig) => !l.operations || l.operations.includes(operationId);
  const compileAll = (list: readonly RateLimitConfig[], at: string, scope: string) =>
    list.flatMap((limit, i) => (applies(limit) ? [compileLimit(limit, `${at}[${i}]`, `${scope}:${limit.name}`, route, isLogin)] : []));

  const opLevel = api.operations[operationId]?.rate_limits ?? [];
  const replaced = new Set(opLevel.map((l) => l.name));
  const limits = [
    ...compileAll(api.rate_limits ?? [], `apis[${apiIndex}].rate_limits`, `rl:${api.name}`).filter((l) => !replaced.has(l.name)),
    ...compileAll(opLevel, `apis[${apiIndex}].operations.${operationId}.rate_limits`, `rl:${api.name}:${operationId}`),
  ];
  const plans = new Map<string, CompiledLimit[]>();
  for (const [plan, list] of Object.entries(config.plans ?? {})) plans.set(plan, compileAll(list, `plans.${plan}`, `rl:plan:${plan}`));
  const hasPlans = [...plans.values()].some((l) => l.length > 0);
  if (limits.length === 0 && !hasPlans) return [];
  const counters = input.services.counters;
  if (!counters) throw new Error('rate limits need the counters service');
  const events = input.services.events;
  const pre = limits.filter((l) => l.stage === 'pre_auth');
  const post = limits.filter((l) => l.stage === 'post_auth');
  const policies: RequestPolicy[] = [];
  if (pre.length > 0) policies.push(stagePolicy('pre_auth_rate_limit', pre, undefined, counters, events));
  if (post.length > 0 || hasPlans) policies.push(stagePolicy('post_auth_rate_limit', post, hasPlans ? plans : undefined, counters, events));
  return policies;
}

function compileLimit(
  limit: RateLimitConfig,
  at: string,
  scope: string,
  route: { api: string; operationId: string; method: string; template: string; ipv6Prefix?: number | undefined },
  isLogin: boolean,
): CompiledLimit {
  try {
    const spec = limitSpecOf(limit);
    return {
      name: limit.name,
      spec,
      keyOf: compileKey(limit.key, route, route.ipv6Prefix),
      scope,
      stage: limit.stage ?? (POST_AUTH_KEYS.test(limit.key) ? 'post_auth' : 'pre_auth'),
      action: limit.action,
      maxDelayMs: limit.max_delay_ms,
      failure: limit.failure ?? (isLogin ? 'closed' : 'open'),
      item: policyItem(limit.name, spec),
    };
  } catch (error) {
    throw new ConfigIssueError(at, (error as Error).message, undefined, { cause: error });
  }
}

/** A limit scaled by `factor` (0 < factor ≤ 1), never below one request. */
function scaleSpec(spec: LimitSpec, factor: number): LimitSpec {
  if (spec.algorithm === 'token_bucket') return { ...spec, burst: Math.max(1, Math.floor(spec.burst * factor)), intervalMs: spec.intervalMs / factor };
  return { ...spec, limit: Math.max(1, Math.floor(spec.limit * factor)) };
}

function stagePolicy(
  stage: 'pre_auth_rate_limit' | 'post_auth_rate_limit',
  limits: readonly CompiledLimit[],
  plans: ReadonlyMap<string, readonly CompiledLimit[]> | undefined,
  counters: Counters,
  events: SecurityEvents | undefined,
): RequestPolicy {
  const staticPolicy = limits.map((l) => l.item).join(', ');
  const decide = async (limit: CompiledLimit, ctx: RequestContext): Promise<Decision> => {
    // A consumer under incident-response tightening is counted on its own key against the scaled limit.
    const consumer = stage === 'post_auth_rate_limit' ? (ctx.identity?.consumer ?? ctx.identity?.subject) : undefined;
    const factor = consumer === undefined ? undefined : counters.tightened.factorFor(consumer, counters.clock());
    const spec = factor === undefined ? limit.spec : scaleSpec(limit.spec, factor);
    const key = `${limit.scope}|${limit.keyOf(ctx)}${factor === undefined ? '' : '|tightened'}`;
    let decision = await decideWithFailurePolicy(counters, key, spec, limit.failure, limit.name, ctx);
    if (decision.allowed || limit.action !== 'delay') return decision;
    // Throttling: wait for capacity until the cap. Waiters racing for the same slot retry (denied tries are not
    // counted), so a burst of N delayed requests is spread over time instead of all but one being refused.
    const deadline = performance.now() + limit.maxDelayMs;
    while (!decision.allowed && performance.now() + decision.retryAfterMs <= deadline) {
      await sleep(Math.max(1, decision.retryAfterMs));
      decision = await decideWithFailurePolicy(counters, key, spec, limit.failure, limit.name, ctx);
    }
    return decision;
  };
  return {
    name: stage === 'pre_auth_rate_limit' ? 'rate-limit-pre-auth' : 'rate-limit-post-auth',
    stage,
    async run(ctx: RequestContext): Promise<void> {
      let active = limits;
      let policyHeader = staticPolicy;
      if (plans) {
        const plan = planOf(ctx.identity);
        const planLimits = plans.get(plan !== undefined && plans.has(plan) ? plan : 'default');
        if (planLimits && planLimits.length > 0) {
          active = [...limits, ...planLimits];
          policyHeader = active.map((l) => l.item).join(', ');
        }
      }
      if (active.length === 0) return;
      const decisions = await Promise.all(active.map((l) => decide(l, ctx)));
      const state = decisions.map((d, i) => `"${active[i]!.name}";r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`).join(', ');
      const headers = (ctx.responseHeaders ??= {});
      headers['ratelimit-policy'] = headers['ratelimit-policy'] ? `${headers['ratelimit-policy']}, ${policyHeader}` : policyHeader;
      headers['ratelimit'] = headers['ratelimit'] ? `${headers['ratelimit']}, ${state}` : state;
      let worst = -1;
      decisions.forEach((d, i) => {
        if (!d.allowed && (worst < 0 || d.retryAfterMs > decisions[worst]!.retryAfterMs)) worst = i;
      });
      if (worst < 0) return;
      const limit = active[worst]!;
      ctx.notes.rateLimit = limit.name;
      events?.emit({
        type: 'rate_limited',
        requestId: ctx.id,
        ip: ctx.clientIp,
        consumer: ctx.identity?.consumer ?? ctx.identity?.subject,
        reason: limit.name,
        fields: { api: ctx.route?.api.name, operation: ctx.route?.operationId },
      });
      throw new GatewayError('rate_limited', `rate limit ${limit.name} exceeded`, {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(decisions[worst]!.retryAfterMs / 1000))) },
      });
    },
  };
}
