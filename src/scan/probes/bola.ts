/**
 * API1 BOLA: objects that belong to one identity (its owner field names the identity, or the identity created
 * it) are read with another identity's credential, by path id and by ids enumerated around the known ones; lists
 * are checked for objects of identities in other tenants, also when asked for them by a tenant/owner query parameter.
 * Administrators (role `admin`) are never the reader: seeing everything may be their job.
 */
import type { SpecOperation } from '../../openapi/load.ts';
import { pathParameters, privilegedRoles, requestSchema, sampleObject } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { listOperations, entitled } from '../discover.ts';
import type { Identity } from '../identity.ts';
import { evidenceOf, is2xx, isAdmin, jsonOf, objectsIn, ownedBy, ownerOf, requestAs, sameTenant, tenantOf, type KnownObject, type ScanSession } from '../session.ts';
import type { Finding } from '../types.ts';

/** Objects of the owner read per operation and reader. */
const OBJECTS_PER_PAIR = 2;
/** Ids tried on each side of a known numeric id. */
export const ENUMERATION_SPAN = 3;
const SCOPING_QUERY = /^(tenant|tenantId|tenant_id|owner|ownerId|owner_id|userId|user_id|customerId|org|orgId)$/;
/** Query parameters that name one object by id (`accountId`, `order_id`): asked with another identity's ids. */
const ID_QUERY = /^[a-z][A-Za-z0-9]*(Id|_id)$/;

/** The key objects are filed under for an id query parameter: `account_id` → `accountId`. */
export const idKeyOf = (name: string): string => name.replace(/_id$/, 'Id').replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const idQueries = (op: SpecOperation) => op.parameters.filter((p) => p.in === 'query' && ID_QUERY.test(p.name) && !SCOPING_QUERY.test(p.name));

/** `ord-5` → [`ord-2`, `ord-3`, `ord-4`, `ord-6`, `ord-7`, `ord-8`] for a span of 3 (never below 0). */
export function neighbourIds(value: string, span = ENUMERATION_SPAN): string[] {
  const match = /^(.*?)(\d+)$/.exec(value);
  if (!match) return [];
  const [, prefix = '', digits = ''] = match;
  const n = Number(digits);
  const out: string[] = [];
  for (let d = -span; d <= span; d++) if (d !== 0 && n + d >= 0) out.push(`${prefix}${String(n + d).padStart(digits.length, '0')}`);
  return out;
}

const readOps = (ops: readonly SpecOperation[]) => ops.filter((op) => op.method === 'GET' && pathParameters(op).length === 1);
const writeOps = (ops: readonly SpecOperation[]) => ops.filter((op) => ['PUT', 'PATCH', 'DELETE'].includes(op.method) && pathParameters(op).length === 1 && privilegedRoles(op) === undefined);

export const bola: ProbeModule = {
  name: 'bola',
  plan(context) {
    const out: PlannedProbe[] = [];
    const users = context.identities.filter((i) => i.role !== 'admin');
    for (const reader of users) {
      for (const victim of context.identities) {
        if (victim === reader) continue;
        for (const op of readOps(context.spec.operations)) {
          if (!entitled(op, reader.role)) continue;
          out.push({ rule: 'api1.bola-read', operationId: op.operationId, endpoint: endpointOf(op), identity: reader.name, victim: victim.name, description: `read ${victim.name}'s objects as ${reader.name}, and ids around them`, destructive: false, maxRequests: OBJECTS_PER_PAIR * 2 + ENUMERATION_SPAN * 2 * OBJECTS_PER_PAIR });
        }
        for (const op of writeOps(context.spec.operations)) {
          if (!entitled(op, reader.role)) continue;
          out.push({ rule: 'api1.bola-write', operationId: op.operationId, endpoint: endpointOf(op), identity: reader.name, victim: victim.name, description: `${op.method} an object ${victim.name} created during the scan, as ${reader.name}`, destructive: true, maxRequests: 2 });
        }
        for (const op of listOperations(context.spec.operations)) {
          if (!entitled(op, reader.role)) continue;
          const asked = [...op.parameters.filter((p) => p.in === 'query' && SCOPING_QUERY.test(p.name)), ...idQueries(op)];
          out.push({ rule: 'api1.bola-list', operationId: op.operationId, endpoint: endpointOf(op), identity: reader.name, victim: victim.name, description: `look for ${victim.name}'s objects in ${reader.name}'s list${asked.length ? ` (also asking for them by ${asked.map((p) => p.name).join(', ')})` : ''}`, destructive: false, maxRequests: asked.length });
        }
      }
    }
    return out;
  },
  async run(session, planned, report) {
    const identity = (name: string | undefined) => session.identities.find((i) => i.name === name);
    const reported = new Set<string>();
    const emit = (finding: Finding) => {
      if (reported.has(finding.id)) return;
      reported.add(finding.id);
      report(finding);
    };
    // Writes last: a probe that deletes a seed object must not take it away from the read probes.
    const ordered = [...planned].sort((a, b) => Number(a.rule === 'api1.bola-write') - Number(b.rule === 'api1.bola-write'));
    for (const probe of ordered) {
      const reader = identity(probe.identity);
      const victim = identity(probe.victim);
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      if (!reader || !victim || !op || isAdmin(reader) || reader.subject === victim.subject) continue;
      if (probe.rule === 'api1.bola-read') await readAs(session, op, reader, victim, emit);
      else if (probe.rule === 'api1.bola-write') await writeAs(session, op, reader, victim, emit);
      else await listAs(session, op, reader, victim, emit);
    }
  },
};

/** Whether an object seen in a response belongs to `victim` and not to the reader's tenant. */
export function foreign(object: Record<string, unknown>, reader: Identity, victim: Identity): boolean {
  const owner = ownerOf(object);
  const tenant = tenantOf(object);
  if (sameTenant(tenant, reader)) return false;
  if (owner !== undefined) return owner === victim.subject && owner !== reader.subject;
  return tenant !== undefined && victim.tenant !== undefined && tenant === victim.tenant && tenant !== reader.tenant;
}

async function readAs(session: ScanSession, op: SpecOperation, reader: Identity, victim: Identity, report: (f: Finding) => void): Promise<void> {
  const param = pathParameters(op)[0];
  if (!param) return;
  const targets = session.objects.filter((o) => o.key === param.name && ownedBy(o, victim) && !ownedBy(o, reader) && !sameTenant(o.tenant, reader));
  const unique = [...new Map(targets.map((o) => [o.value, o])).values()].slice(0, OBJECTS_PER_PAIR);
  const pathOf = (value: string) => op.path.replace(`{${param.name}}`, encodeURIComponent(value));
  for (const object of unique) {
    const ownRequest = requestAs(session, victim, 'GET', pathOf(object.value));
    const own = await session.client.send(ownRequest);
    if (!is2xx(own)) continue;
    const request = requestAs(session, reader, 'GET', pathOf(object.value));
    const response = await session.client.send(request);
    if (is2xx(response) && response.body.includes(object.value)) {
      report(findingOf('api1.bola-read', { operation: op, key: `${reader.name}->${victim.name}`, detail: `${reader.name} read ${victim.name}'s ${param.name} ${object.value} (${describe(object)}): ${response.status}.`, evidence: [evidenceOf(session, ownRequest, own), evidenceOf(session, request, response)] }));
      break;
    }
  }
  // Enumeration: ids next to the victim's, read by the reader; a hit is an object owned by someone else.
  for (const object of unique) {
    for (const value of neighbourIds(object.value)) {
      if (session.objects.some((o) => o.key === param.name && o.value === value && ownedBy(o, reader))) continue;
      const request = requestAs(session, reader, 'GET', pathOf(value));
      const response = await session.client.send(request);
      if (!is2xx(response)) continue;
      const found = objectsIn(jsonOf(response))[0];
      const owner = found ? ownerOf(found) : undefined;
      if (found && owner !== undefined && owner !== reader.subject && !sameTenant(tenantOf(found), reader)) {
        report(findingOf('api1.bola-read', { operation: op, key: `${reader.name}->enumerated`, detail: `${reader.name} enumerated ${param.name} ${value} next to ${object.value} and read an object owned by ${owner}.`, evidence: [evidenceOf(session, request, response)] }));
        return;
      }
    }
  }
}

/** A write to one seed object of the victim (created by the scan, never a pre-existing one) as the reader. */
async function writeAs(session: ScanSession, op: SpecOperation, reader: Identity, victim: Identity, report: (f: Finding) => void): Promise<void> {
  const param = pathParameters(op)[0];
  const object = session.objects.find((o) => param && o.key === param.name && o.createdBy === victim.name);
  if (!param || !object) return;
  const schema = requestSchema(op);
  const body = op.method === 'DELETE' ? undefined : schema ? sampleObject(schema, () => undefined) : {};
  if (body && op.method === 'PATCH' && Object.keys(body).length === 0) {
    const writable = Object.entries(schema?.properties ?? {}).find(([, prop]) => !('readOnly' in prop && prop.readOnly) && 'type' in prop && prop.type === 'string');
    if (writable) body[writable[0]] = 'rampart-scan-bola';
  }
  const request = requestAs(session, reader, op.method, op.path.replace(`{${param.name}}`, encodeURIComponent(object.value)), body === undefined ? {} : { body });
  const response = await session.client.send(request);
  if (is2xx(response)) report(findingOf('api1.bola-write', { operation: op, key: `${reader.name}->${victim.name}`, detail: `${reader.name} sent ${op.method} for ${victim.name}'s ${param.name} ${object.value} (created during the scan): ${response.status}.`, evidence: [object.evidence, evidenceOf(session, request, response)] }));
}

function describe(object: KnownObject): string {
  return object.createdBy ? `created by ${object.createdBy} during the scan` : `owner ${object.owner ?? '?'}${object.tenant ? `, tenant ${object.tenant}` : ''}`;
}

async function listAs(session: ScanSession, op: SpecOperation, reader: Identity, victim: Identity, report: (f: Finding) => void): Promise<void> {
  const seen = session.recorded.filter((r) => r.op === op && r.identity === reader);
  const check = (request: (typeof seen)[number]['request'], response: (typeof seen)[number]['response'], how: string) => {
    const leaked = objectsIn(jsonOf(response)).filter((o) => foreign(o, reader, victim));
    if (leaked.length === 0) return false;
    const ids = leaked.map((o) => String(o['id'] ?? '?')).slice(0, 5);
    report(findingOf('api1.bola-list', { operation: op, key: `${reader.name}->${victim.name}${how ? ':query' : ''}`, detail: `${reader.name}'s ${endpointOf(op)}${how} returned ${leaked.length} object(s) of ${victim.name} (${ids.join(', ')}).`, evidence: [evidenceOf(session, request, response)] }));
    return true;
  };
  for (const r of seen) if (check(r.request, r.response, '')) break;
  for (const param of op.parameters.filter((p) => p.in === 'query' && SCOPING_QUERY.test(p.name))) {
    const value = /tenant|org/i.test(param.name) ? victim.tenant : victim.subject;
    if (value === undefined || (reader.tenant !== undefined && value === reader.tenant)) continue;
    const request = requestAs(session, reader, 'GET', `${op.path}?${encodeURIComponent(param.name)}=${encodeURIComponent(value)}`);
    const response = await session.client.send(request);
    if (is2xx(response)) check(request, response, ` asked with ${param.name}=${value}`);
  }
  // Ids of the victim's objects as query parameters (`?accountId=<theirs>`), one request per parameter.
  for (const param of idQueries(op)) {
    const key = idKeyOf(param.name);
    const theirs = session.objects.find((o) => o.key === key && ownedBy(o, victim) && !ownedBy(o, reader) && !sameTenant(o.tenant, reader));
    if (!theirs) continue;
    const request = requestAs(session, reader, 'GET', `${op.path}?${encodeURIComponent(param.name)}=${encodeURIComponent(theirs.value)}`);
    const response = await session.client.send(request);
    if (is2xx(response)) check(request, response, ` asked with ${param.name}=${theirs.value}`);
  }
}
