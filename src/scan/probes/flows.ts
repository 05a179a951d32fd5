/**
 * API6 sensitive business flows: an operation the spec marks `x-rampart-flow` (checkout, sign-up, booking, sending
 * a code) is repeated by one identity a bounded number of times, as fast as `--rps` allows; when every answer is
 * 2xx and none is 429 (or another refusal), the flow is not throttled. Flows on GET/HEAD run in both profiles; any
 * other method repeats a business action (orders placed, messages sent), so only with `--profile full`.
 *
 * The extension: `x-rampart-flow: true`, `x-rampart-flow: checkout` (a name), or
 * `x-rampart-flow: { name: checkout, max_per_minute: 5 }` (what one caller may do per minute; default 10).
 */
import type { SpecOperation } from '../../openapi/load.ts';
import { requestSchema, requiresAuth, sampleObject, SAFE_METHODS } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, ownValue, pathFor } from '../discover.ts';
import { fixWithConfig } from '../rules.ts';
import { evidenceOf, is2xx, requestAs } from '../session.ts';

/** Repetitions of one flow, at most (whatever its `max_per_minute`). */
export const MAX_FLOW_REPEATS = 30;
/** The per-minute allowance assumed when the extension names none. */
export const DEFAULT_FLOW_PER_MINUTE = 10;

export interface Flow {
  readonly name: string;
  /** What one caller may do per minute, as the spec says (or {@link DEFAULT_FLOW_PER_MINUTE}). */
  readonly maxPerMinute: number;
  /** Whether the spec gave `max_per_minute`. */
  readonly declared: boolean;
}

/** The operation's `x-rampart-flow`, or undefined when it has none (or an unusable one). */
export function flowOf(op: SpecOperation): Flow | undefined {
  const raw = op.raw['x-rampart-flow'];
  if (raw === true) return { name: op.operationId, maxPerMinute: DEFAULT_FLOW_PER_MINUTE, declared: false };
  if (typeof raw === 'string' && raw !== '') return { name: raw, maxPerMinute: DEFAULT_FLOW_PER_MINUTE, declared: false };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const { name, max_per_minute: max } = raw as Record<string, unknown>;
  const declared = typeof max === 'number' && Number.isInteger(max) && max > 0;
  return { name: typeof name === 'string' && name !== '' ? name : op.operationId, maxPerMinute: declared ? max : DEFAULT_FLOW_PER_MINUTE, declared };
}

/** Repetitions for a flow: a few more than its allowance, at most {@link MAX_FLOW_REPEATS}. */
export const repeatsOf = (flow: Flow): number => Math.min(MAX_FLOW_REPEATS, flow.maxPerMinute + 5);

/** The `apis[]` settings of rampart.yaml that throttle the flow: a per-consumer (anonymous: per-IP) limit on the operation. */
export function flowLimitConfig(op: SpecOperation, flow: Flow): Record<string, unknown> {
  return { rate_limits: [{ name: `${flow.name}-flow`.replace(/[^A-Za-z0-9_-]/g, '-'), key: requiresAuth(op) ? 'consumer' : 'ip', algorithm: 'sliding_window', limit: `${flow.maxPerMinute}/min`, operations: [op.operationId] }] };
}

const FLOW_FIX = 'Throttle the flow per consumer (and per IP for anonymous flows), and add business checks (one purchase per item and customer, CAPTCHA or step-up for sign-ups). Rampart does not read `x-rampart-flow`: a per-consumer rate limit on the operation throttles it (429 with Retry-After).';

export const flows: ProbeModule = {
  name: 'flows',
  plan(context) {
    const out: PlannedProbe[] = [];
    for (const op of context.spec.operations) {
      const flow = flowOf(op);
      if (!flow) continue;
      const identity = requiresAuth(op) ? (context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role)) ?? context.identities.find((i) => entitled(op, i.role))) : undefined;
      if (requiresAuth(op) && !identity) continue;
      const n = repeatsOf(flow);
      const destructive = !SAFE_METHODS.has(op.method);
      out.push({ rule: 'api6.unthrottled-flow', operationId: op.operationId, endpoint: endpointOf(op), ...(identity ? { identity: identity.name } : {}), description: `flow "${flow.name}" (${flow.maxPerMinute}/min${flow.declared ? '' : ' assumed'}) repeated ${n} times: is one answered 429?${destructive ? ' (repeats a business action: --profile full only)' : ''}`, destructive, maxRequests: n });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      const flow = op ? flowOf(op) : undefined;
      if (!op || !flow) continue;
      const path = pathFor(session, op, identity);
      if (path === undefined) continue;
      const schema = requestSchema(op);
      const body = schema && identity ? sampleObject(schema, (name) => ownValue(session, identity, name)) : schema ? sampleObject(schema, () => undefined) : undefined;
      const n = repeatsOf(flow);
      const started = performance.now();
      let first;
      let last;
      let throttled = false;
      for (let i = 0; i < n; i++) {
        const request = requestAs(session, identity, op.method, path, body === undefined ? {} : { body });
        const response = await session.client.send(request);
        last = { request, response };
        first ??= last;
        // A first answer that is not 2xx cannot be judged (the sample is refused, or the flow is closed to us);
        // later, any refusal (429, an IP block, a 503) is the throttle working.
        if (!is2xx(response)) {
          throttled = i > 0 || response.status === 429;
          break;
        }
      }
      if (!first || !last || !is2xx(first.response) || throttled || !is2xx(last.response)) continue;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      report(
        findingOf('api6.unthrottled-flow', {
          operation: op,
          detail: `The "${flow.name}" flow (${endpointOf(op)}) ran ${n} times in ${seconds} s${identity ? ` as ${identity.name}` : ' without a credential'}, every answer ${last.response.status}, none 429 (${flow.declared ? 'the spec allows' : 'assumed allowance'} ${flow.maxPerMinute}/min).`,
          evidence: [evidenceOf(session, first.request, first.response), evidenceOf(session, last.request, last.response)],
          fix: fixWithConfig(FLOW_FIX, flowLimitConfig(op, flow)),
        }),
      );
    }
  },
};
