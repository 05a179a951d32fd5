/**
 * API7 SSRF: URL-typed parameters (format uri/url, or a name like url, callback, webhook, image) of GET query
 * strings and of JSON bodies of create operations get a URL on the scanner's own loopback canary; a request
 * reaching the canary within {@link CANARY_WAIT_MS} is a finding. No other address is ever offered to the target.
 */
import type { SpecOperation } from '../../openapi/load.ts';
import type { Canary } from '../canary.ts';
import { pathParameters, propertiesOf, requestSchema, requiresAuth, sampleObject, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, ownValue, pathFor } from '../discover.ts';
import { evidenceOf, requestAs, withQuery, type ScanSession } from '../session.ts';

/** How long the canary waits for the target's request, in milliseconds. */
export const CANARY_WAIT_MS = 2000;
const URL_NAME = /(^|_|-)(url|uri|href|link|callback|webhook|redirect|image|avatar|feed|endpoint)s?$/i;

/** Whether a parameter or property takes a URL (by format, or by name for plain strings). */
export function urlTyped(name: string, schema: Schema | undefined): boolean {
  if (!schema || schema.type !== 'string') return false;
  return schema.format === 'uri' || schema.format === 'url' || schema.format === 'iri' || (schema.format === undefined && URL_NAME.test(name.replace(/([a-z])([A-Z])/g, '$1_$2')));
}

export const ssrf: ProbeModule = {
  name: 'ssrf',
  plan(context) {
    const out: PlannedProbe[] = [];
    for (const op of context.spec.operations) {
      const identity = requiresAuth(op) ? context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role)) : undefined;
      if (requiresAuth(op) && !identity) continue;
      const base = { rule: 'api7.ssrf', operationId: op.operationId, ...(identity ? { identity: identity.name } : {}), destructive: false, maxRequests: 1 };
      if (op.method === 'GET' && pathParameters(op).length === 0) {
        for (const p of op.parameters) if (p.in === 'query' && urlTyped(p.name, p.schema as Schema)) out.push({ ...base, endpoint: `${endpointOf(op)}?${p.name}=`, description: `${p.name} pointed at the scanner's loopback canary` });
      }
      if (op.method === 'POST' && pathParameters(op).length === 0) {
        for (const [name, prop] of Object.entries(propertiesOf(requestSchema(op)))) if (!prop.readOnly && urlTyped(name, prop)) out.push({ ...base, endpoint: `${endpointOf(op)} body.${name}`, description: `body ${name} pointed at the scanner's loopback canary (creates one object of the identity's own)` });
      }
    }
    return out;
  },
  async run(session, planned, report) {
    const canary = session.canary;
    if (!canary) return;
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      if (op) await probeOne(session, canary, op, identity, probe.endpoint, report);
    }
  },
};

async function probeOne(session: ScanSession, canary: Canary, op: SpecOperation, identity: Parameters<typeof requestAs>[1], endpoint: string, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const { url, token } = canary.url();
  let request;
  const body = / body\.(.+)$/.exec(endpoint)?.[1];
  if (body !== undefined) {
    const schema = requestSchema(op);
    if (!schema) return;
    const payload = { ...sampleObject(schema, (name) => (identity ? ownValue(session, identity, name) : undefined)), [body]: url };
    request = requestAs(session, identity, 'POST', op.path, { body: payload });
  } else {
    const name = endpoint.split('?')[1]?.replace(/=$/, '') ?? '';
    const path = pathFor(session, op, identity);
    if (path === undefined) return;
    request = requestAs(session, identity, 'GET', withQuery(path, name, url));
  }
  const response = await session.client.send(request);
  if (await canary.waitFor(token, CANARY_WAIT_MS)) {
    report(findingOf('api7.ssrf', { operation: op, key: body ?? endpoint.split('?')[1] ?? '', detail: `The target requested the scanner's canary URL given in ${body ? `body.${body}` : endpoint.split('?')[1]?.replace(/=$/, '')}.`, evidence: [evidenceOf(session, request, response)] }));
  }
}
