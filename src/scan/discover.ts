/**
 * The learning phase: each identity calls the list and "own" operations it is entitled to, and creates one object
 * where the spec has a create operation for a resource it can read back, so the probes know whose objects are whose.
 */
import type { SpecOperation } from '../openapi/load.ts';
import { exampleOf, fillPath, pathParameters, privilegedRoles, requestSchema, requiredQuery, resourceKey, sampleObject, SAFE_METHODS, type Schema } from './operations.ts';
import { endpointOf, type PlanContext, type PlannedProbe, type ProbeModule } from './probe.ts';
import { evidenceOf, is2xx, jsonOf, objectsIn, ownedBy, ownerOf, requestAs, tenantOf, type ScanSession } from './session.ts';
import type { Identity } from './identity.ts';

/** GET operations without path parameters: lists and the caller's own resources. */
export function listOperations(ops: readonly SpecOperation[]): SpecOperation[] {
  return ops.filter((op) => op.method === 'GET' && pathParameters(op).length === 0 && op.raw['x-rampart-websocket'] !== true);
}

/** POST operations without path parameters whose resource can be read back by id (`POST /orders` + `GET /orders/{orderId}`). */
export function createOperations(ops: readonly SpecOperation[]): SpecOperation[] {
  return ops.filter((op) => {
    if (op.method !== 'POST' || pathParameters(op).length > 0 || !requestSchema(op)) return false;
    const key = resourceKey(op.path);
    return ops.some((read) => read.method === 'GET' && pathParameters(read).length === 1 && pathParameters(read)[0]?.name === key);
  });
}

export const entitled = (op: SpecOperation, role: string | undefined): boolean => {
  const roles = privilegedRoles(op);
  return roles === undefined || (role !== undefined && roles.includes(role));
};

export const discovery: ProbeModule = {
  name: 'discovery',
  plan(context: PlanContext): PlannedProbe[] {
    const out: PlannedProbe[] = [];
    for (const identity of context.identities) {
      for (const op of listOperations(context.spec.operations)) {
        if (!entitled(op, identity.role)) continue;
        out.push({ rule: 'discovery', operationId: op.operationId, endpoint: endpointOf(op), identity: identity.name, description: 'learn objects and the identity\'s subject/tenant', destructive: false, maxRequests: 1 });
      }
      for (const op of createOperations(context.spec.operations)) {
        if (!entitled(op, identity.role)) continue;
        out.push({ rule: 'discovery', operationId: op.operationId, endpoint: endpointOf(op), identity: identity.name, description: 'create one object of the identity\'s own (seed for BOLA probes)', destructive: false, maxRequests: 1 });
      }
    }
    return out;
  },
  async run(session, planned) {
    const byName = new Map(session.identities.map((i) => [i.name, i]));
    const ops = new Map(session.spec.operations.map((o) => [o.operationId, o]));
    // Lists first (for every identity), then creates, so a create can use ids of the identity's own objects.
    const ordered = [...planned].sort((a, b) => Number(a.endpoint.startsWith('POST')) - Number(b.endpoint.startsWith('POST')));
    for (const probe of ordered) {
      const identity = byName.get(probe.identity ?? '');
      const op = ops.get(probe.operationId ?? '');
      if (!identity || !op) continue;
      if (SAFE_METHODS.has(op.method)) await learnFromList(session, op, identity);
      else await seed(session, op, identity);
    }
  },
};

/** The value of `name` among the identity's own objects (for filling required ids). */
export function ownValue(session: ScanSession, identity: Identity, name: string): string | undefined {
  return session.objects.find((o) => o.key === name && ownedBy(o, identity))?.value;
}

function remember(session: ScanSession, op: SpecOperation, identity: Identity, body: unknown, evidence: ReturnType<typeof evidenceOf>, created: boolean): void {
  const key = resourceKey(op.path);
  for (const object of objectsIn(body)) {
    if (key === undefined || (typeof object['id'] !== 'string' && typeof object['id'] !== 'number')) continue;
    const value = String(object['id']);
    if (!created && session.objects.some((o) => o.key === key && o.value === value && o.seenBy === identity.name)) continue;
    session.objects.push({ key, value, owner: ownerOf(object), tenant: tenantOf(object), seenBy: identity.name, createdBy: created ? identity.name : undefined, operationId: op.operationId, evidence });
  }
}

async function learnFromList(session: ScanSession, op: SpecOperation, identity: Identity): Promise<void> {
  const query = requiredQuery(op, (name) => ownValue(session, identity, name));
  if (query === undefined) return;
  const request = requestAs(session, identity, 'GET', query ? `${op.path}?${query}` : op.path);
  const response = await session.client.send(request);
  if (!is2xx(response)) return;
  session.recorded.push({ op, identity, request, response });
  const body = jsonOf(response);
  // A singleton "own" resource (`/users/me`): it tells the identity's subject and tenant when the token did not.
  if (!Array.isArray(body) && body !== null && typeof body === 'object' && /\/(me|self|profile|current)$/i.test(op.path)) {
    const self = body as Record<string, unknown>;
    if (identity.subject === undefined && typeof self['id'] === 'string') identity.subject = self['id'];
    identity.tenant ??= tenantOf(self);
    return;
  }
  remember(session, op, identity, body, evidenceOf(session, request, response), false);
}

async function seed(session: ScanSession, op: SpecOperation, identity: Identity): Promise<void> {
  const schema = requestSchema(op);
  if (!schema) return;
  const body = sampleObject(schema, (name) => ownValue(session, identity, name));
  const request = requestAs(session, identity, 'POST', op.path, { body });
  const response = await session.client.send(request);
  if (!is2xx(response)) return;
  remember(session, op, identity, jsonOf(response), evidenceOf(session, request, response), true);
}

/**
 * The operation's path for `identity`, path parameters filled with the identity's own object ids (by parameter
 * name) or the schema's example (`seedsOnly`: ids of objects the scan created, nothing else), and its required
 * query; undefined when a value is missing.
 */
export function pathFor(session: ScanSession, op: SpecOperation, identity: Identity | undefined, options: { seedsOnly?: boolean } = {}): string | undefined {
  const known = (name: string) => (identity ? ownValue(session, identity, name) : undefined);
  // A destructive call only ever names an object the scan created itself (never an example or a found id).
  const seed = (name: string) => session.objects.find((o) => o.key === name && o.createdBy !== undefined)?.value;
  const path = fillPath(op, (param) => {
    const value = options.seedsOnly ? seed(param.name) : (known(param.name) ?? exampleOf(param.schema as Schema | undefined));
    return value === undefined || typeof value === 'object' ? undefined : String(value);
  });
  const query = requiredQuery(op, known);
  if (path === undefined || query === undefined) return undefined;
  return query ? `${path}?${query}` : path;
}
