/**
 * API1 BOLA by ids in request bodies: a search operation asked, in its body, for another identity's object id
 * (`{"accountId": "<theirs>"}`: a read, safe profile) returning that identity's objects; and, with `--profile full`
 * only, a create operation given another identity's object id (`POST /orders` on their account) and accepting it.
 */
import type { SpecOperation } from '../../openapi/load.ts';
import { isSearchOperation, pathParameters, propertiesOf, requestSchema, sampleObject } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { createOperations, entitled, ownValue } from '../discover.ts';
import type { Identity } from '../identity.ts';
import { evidenceOf, is2xx, jsonOf, objectsIn, ownedBy, requestAs, sameTenant, type ScanSession } from '../session.ts';
import { foreign } from './bola.ts';

/** Body properties that carry an object id: `accountId`, `orderId`, … (not a bare `id`). */
const idProperties = (op: SpecOperation): string[] => Object.entries(propertiesOf(requestSchema(op))).filter(([name, prop]) => /[a-z]Id$/.test(name) && !prop.readOnly && prop.type === 'string').map(([name]) => name);

export const bolaBody: ProbeModule = {
  name: 'bola-body',
  plan(context) {
    const out: PlannedProbe[] = [];
    const creates = new Set(createOperations(context.spec.operations).map((op) => op.operationId));
    for (const reader of context.identities.filter((i) => i.role !== 'admin')) {
      for (const victim of context.identities.filter((i) => i !== reader)) {
        for (const op of context.spec.operations) {
          if (op.method !== 'POST' || pathParameters(op).length > 0 || !entitled(op, reader.role)) continue;
          const search = isSearchOperation(op);
          if (!search && !creates.has(op.operationId)) continue;
          for (const name of idProperties(op)) {
            out.push(
              search
                ? { rule: 'api1.bola-list', operationId: op.operationId, endpoint: `${endpointOf(op)} body.${name}`, identity: reader.name, victim: victim.name, description: `search by ${victim.name}'s ${name} as ${reader.name}`, destructive: false, maxRequests: 1 }
                : { rule: 'api1.bola-create', operationId: op.operationId, endpoint: `${endpointOf(op)} body.${name}`, identity: reader.name, victim: victim.name, description: `create with ${victim.name}'s ${name} as ${reader.name}`, destructive: true, maxRequests: 1 },
            );
          }
        }
      }
    }
    return out;
  },
  async run(session, planned, report) {
    const seen = new Set<string>();
    for (const probe of planned) {
      const reader = session.identities.find((i) => i.name === probe.identity);
      const victim = session.identities.find((i) => i.name === probe.victim);
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const name = / body\.(.+)$/.exec(probe.endpoint)?.[1];
      if (!reader || !victim || !op || !name || reader.subject === victim.subject) continue;
      const finding = await probeBody(session, op, name, reader, victim, probe.rule);
      if (finding && !seen.has(finding.id)) {
        seen.add(finding.id);
        report(finding);
      }
    }
  },
};

async function probeBody(session: ScanSession, op: SpecOperation, name: string, reader: Identity, victim: Identity, rule: string) {
  const theirs = session.objects.find((o) => o.key === name && ownedBy(o, victim) && !ownedBy(o, reader) && !sameTenant(o.tenant, reader));
  const schema = requestSchema(op);
  if (!theirs || !schema) return undefined;
  const key = `${reader.name}->${victim.name}:body.${name}`;
  if (rule === 'api1.bola-list') {
    const request = requestAs(session, reader, 'POST', op.path, { body: { [name]: theirs.value } });
    const response = await session.client.send(request);
    const leaked = is2xx(response) ? objectsIn(jsonOf(response)).filter((o) => foreign(o, reader, victim)) : [];
    if (leaked.length === 0) return undefined;
    return findingOf('api1.bola-list', { operation: op, key, detail: `${reader.name}'s ${endpointOf(op)} with ${name} ${theirs.value} (${victim.name}'s) returned ${leaked.length} of ${victim.name}'s objects.`, evidence: [evidenceOf(session, request, response)] });
  }
  const body = sampleObject(schema, (n) => (n === name ? theirs.value : ownValue(session, reader, n)));
  const request = requestAs(session, reader, 'POST', op.path, { body });
  const response = await session.client.send(request);
  if (!is2xx(response)) return undefined;
  return findingOf('api1.bola-create', { operation: op, key, detail: `${reader.name} created through ${endpointOf(op)} with ${victim.name}'s ${name} ${theirs.value}: ${response.status}.`, evidence: [evidenceOf(session, request, response)] });
}
