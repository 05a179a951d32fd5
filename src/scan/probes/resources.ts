/**
 * API4 resource consumption: a bounded burst of identical requests to one cheap GET operation (is any answered
 * 429?), and paging parameters above their declared `maximum` (accepted with 2xx?).
 */
import type { OpenAPIV3 } from 'openapi-types';
import { pathParameters, requiresAuth, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, requestAs, withQuery } from '../session.ts';

/** Requests in the rate-limit burst. */
export const BURST_REQUESTS = 25;
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
