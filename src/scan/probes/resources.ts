/**
 * API4 resource consumption: a bounded burst of identical requests to one cheap GET operation (is any answered
 * 429?), paging parameters above their declared `maximum` (accepted with 2xx?), and a request body of about 1 MiB
 * whose string property is far above its declared `maxLength` (accepted with 2xx?): on search operations (a read)
 * in both profiles, on create operations only with `--profile full` (it would store the megabyte).
 */
import type { OpenAPIV3 } from 'openapi-types';
import { isSearchOperation, pathParameters, propertiesOf, requestSchema, requiresAuth, sampleObject, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { createOperations, entitled, ownValue, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, requestAs, withQuery, type ScanSession } from '../session.ts';
import type { SpecOperation } from '../../openapi/load.ts';

/** Requests in the rate-limit burst. */
export const BURST_REQUESTS = 25;
/** Length of the huge string, in characters (1 MiB: over the common 1 MiB body caps once in a JSON body). */
export const HUGE_BODY_CHARS = 1024 * 1024;
/** Only properties whose declared `maxLength` is at most this are sent the huge string ("far larger" than allowed). */
const HUGE_MAX_LENGTH = 64 * 1024;
const PAGE_PARAM = /^(limit|page_?size|pageSize|per_?page|perPage|size|count|top|max_?results|maxResults)$/i;

export const resources: ProbeModule = {
  name: 'resources',
  plan(context) {
    const out: PlannedProbe[] = [];
    const gets = context.spec.operations.filter((op) => op.method === 'GET' && pathParameters(op).length === 0 && op.raw['x-rampart-websocket'] !== true);
    // Prefer an operation every caller can reach (a login or health check is what a limit protects first).
    const target = gets.find((op) => !requiresAuth(op)) ?? gets.find((op) => context.identities.some((i) => entitled(op, i.role)));
    if (target) {
      const identity = requiresAuth(target) ? context.identities.find((i) => entitled(target, i.role)) : undefined;
      out.push({ rule: 'api4.no-rate-limit', operationId: target.operationId, endpoint: endpointOf(target), ...(identity ? { identity: identity.name } : {}), description: `a burst of ${BURST_REQUESTS} requests (at the scan's --rps): is one answered 429?`, destructive: false, maxRequests: BURST_REQUESTS });
    }
    for (const op of gets) {
      const param = op.parameters.find((p) => p.in === 'query' && PAGE_PARAM.test(p.name) && typeof (p.schema as Schema | undefined)?.maximum === 'number');
      const identity = context.identities.find((i) => entitled(op, i.role));
      if (param && (identity || !requiresAuth(op))) out.push({ rule: 'api4.page-size', operationId: op.operationId, endpoint: `${endpointOf(op)}?${param.name}=`, ...(identity ? { identity: identity.name } : {}), description: `${param.name} above its declared maximum`, destructive: false, maxRequests: 1 });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      if (!op) continue;
      const path = pathFor(session, op, identity);
      if (path === undefined) continue;
      if (probe.rule === 'api4.no-rate-limit') {
        // Limited: a 429, or the answer turning from 2xx into a refusal (an IP block, a 503) during the burst.
        // A first answer that is not 2xx cannot be judged.
        let last;
        let limited = false;
        let judged = true;
        for (let i = 0; i < BURST_REQUESTS && !limited && judged; i++) {
          const request = requestAs(session, identity, 'GET', path);
          const response = await session.client.send(request);
          last = { request, response };
          if (i === 0 && !is2xx(response)) judged = response.status === 429 ? ((limited = true), true) : false;
          else limited = !is2xx(response);
        }
        if (judged && !limited && last) report(findingOf('api4.no-rate-limit', { operation: op, detail: `${BURST_REQUESTS} requests to ${endpointOf(op)} in a row, none answered 429 (last: ${last.response.status}).`, evidence: [evidenceOf(session, last.request, last.response)] }));
        continue;
      }
      const param = op.parameters.find((p) => p.in === 'query' && PAGE_PARAM.test(p.name)) as OpenAPIV3.ParameterObject | undefined;
      const max = (param?.schema as Schema | undefined)?.maximum;
      if (!param || typeof max !== 'number') continue;
      const big = Math.max(max * 100, 10_000);
      const request = requestAs(session, identity, 'GET', withQuery(path, param.name, String(big)));
      const response = await session.client.send(request);
      if (is2xx(response)) report(findingOf('api4.page-size', { operation: op, detail: `${param.name}=${big} (declared maximum ${max}) was answered ${response.status}.`, evidence: [evidenceOf(session, request, response)] }));
    }
  },
};

/** The huge-body probe: a module of its own, so it runs before the probes that get a scanner blocked. */
export const bodies: ProbeModule = {
  name: 'bodies',
  plan(context) {
    const out: PlannedProbe[] = [];
    const creates = new Set(createOperations(context.spec.operations).map((op) => op.operationId));
    for (const op of context.spec.operations) {
      if (op.method !== 'POST' || pathParameters(op).length > 0) continue;
      const search = isSearchOperation(op);
      if (!search && !creates.has(op.operationId)) continue;
      const field = hugeField(op);
      const identity = requiresAuth(op) ? context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role)) : undefined;
      if (field && (identity || !requiresAuth(op))) out.push({ rule: 'api4.huge-body', operationId: op.operationId, endpoint: `${endpointOf(op)} body.${field}`, ...(identity ? { identity: identity.name } : {}), description: `a ${HUGE_BODY_CHARS / 1024} KiB ${field} (maxLength ${String(propertiesOf(requestSchema(op))[field]?.maxLength)})${search ? ' to a search' : ' to a create: --profile full only'}`, destructive: !search, maxRequests: 1 });
    }
    return out;
  },
  async run(session, planned, report) {
    // Searches first: a huge object stored by a create (full profile) would otherwise be in their answers.
    for (const probe of [...planned].sort((a, b) => Number(a.destructive) - Number(b.destructive))) await hugeBody(session, probe, report);
  },
};

/** A writable string property of the operation's body with a small declared `maxLength`. */
function hugeField(op: SpecOperation): string | undefined {
  const capped = Object.entries(propertiesOf(requestSchema(op))).filter(([, prop]) => prop.type === 'string' && !prop.readOnly && typeof prop.maxLength === 'number' && prop.maxLength <= HUGE_MAX_LENGTH);
  // Free text first: an id with a pattern may be refused for its pattern before its length is looked at.
  return (capped.find(([, prop]) => prop.pattern === undefined && prop.format === undefined && prop.enum === undefined) ?? capped[0])?.[0];
}

async function hugeBody(session: ScanSession, probe: PlannedProbe, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
  const identity = session.identities.find((i) => i.name === probe.identity);
  const schema = op ? requestSchema(op) : undefined;
  const field = op ? hugeField(op) : undefined;
  if (!op || !schema || !field) return;
  const body = { ...sampleObject(schema, (name) => (identity ? ownValue(session, identity, name) : undefined)), [field]: 'x'.repeat(HUGE_BODY_CHARS) };
  const request = requestAs(session, identity, 'POST', op.path, { body });
  const response = await session.client.send(request);
  if (!is2xx(response)) return;
  const max = propertiesOf(schema)[field]?.maxLength;
  report(findingOf('api4.huge-body', { operation: op, key: field, detail: `A ${Math.round(Buffer.byteLength(request.body ?? '') / 1024)} KiB body with a ${HUGE_BODY_CHARS}-character ${field} (maxLength ${String(max)}) was answered ${response.status}.`, evidence: [evidenceOf(session, request, response)] }));
}
