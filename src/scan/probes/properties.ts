/**
 * API3 property level: every JSON 2xx response the scan received with a credential is compared with its declared
 * schema (undeclared properties) and searched for secrets (password hashes, private keys, secret-named fields);
 * PATCH operations on the identity's own singleton resource (`/users/me`: no path parameter) are sent the
 * `readOnly` properties of their schema with changed values (mass assignment), which are put back afterwards.
 */
import type { SpecOperation } from '../../openapi/load.ts';
import { itemsOf, pathParameters, propertiesOf, requestSchema, successSchema, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled } from '../discover.ts';
import type { Identity } from '../identity.ts';
import { evidenceOf, is2xx, jsonOf, requestAs, type ScanSession } from '../session.ts';

/** Deepest nesting the undeclared-property walk descends into. */
const MAX_DEPTH = 6;
const SECRET_FIELD = /^(password|passwordHash|password_hash|hashedPassword|secret|clientSecret|client_secret|apiKey|api_key|privateKey|private_key|tenantSecret|accessToken|refreshToken|ssn)$/i;
const SECRET_VALUE = /(\$(2[abxy]?|argon2(id|i|d)?|pbkdf2[-_a-z0-9]*|scrypt)\$|\bscrypt\$\d+\$|-----BEGIN [A-Z ]*PRIVATE KEY-----)/;

/** Paths (`items[].internalNotes`) of properties in `value` that `schema` does not declare. */
export function undeclaredProperties(value: unknown, schema: Schema | undefined, at = '', depth = 0): string[] {
  if (!schema || depth > MAX_DEPTH || value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    const items = itemsOf(schema);
    const out = new Set<string>();
    for (const item of value.slice(0, 50)) for (const p of undeclaredProperties(item, items, `${at}[]`, depth + 1)) out.add(p);
    return [...out];
  }
  const declared = propertiesOf(schema);
  const additional = schema.additionalProperties;
  if (Object.keys(declared).length === 0 && additional !== false) return [];
  const out: string[] = [];
  for (const [name, child] of Object.entries(value as Record<string, unknown>)) {
    const path = at ? `${at}.${name}` : name;
    const prop = declared[name];
    if (prop === undefined) {
      if (additional === true || (typeof additional === 'object' && additional !== null)) continue;
      out.push(path);
    } else {
      out.push(...undeclaredProperties(child, prop, path, depth + 1));
    }
  }
  return out;
}

/** Secret-looking fields in a JSON value: secret-named properties with a non-empty value, and hash/key values. */
export function secretFields(value: unknown, at = '', depth = 0): string[] {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return [];
  const out = new Set<string>();
  const entries: [string, unknown][] = Array.isArray(value) ? value.slice(0, 50).map((v) => ['[]', v]) : Object.entries(value as Record<string, unknown>);
  for (const [name, child] of entries) {
    const path = name === '[]' ? `${at}[]` : at ? `${at}.${name}` : name;
    if (typeof child === 'string' && child !== '' && child !== '****' && (SECRET_FIELD.test(name) || SECRET_VALUE.test(child))) out.add(path);
    for (const p of secretFields(child, path, depth + 1)) out.add(p);
  }
  return [...out];
}

/** A changed value for a read-only property (booleans flipped, another enum value, strings suffixed); undefined to leave it out. */
export function changedValue(name: string, schema: Schema, current: unknown): unknown {
  if (name === 'id' || schema.format !== undefined) return undefined;
  if (schema.type === 'boolean') return current !== true;
  if (Array.isArray(schema.enum)) return schema.enum.find((v) => v !== current);
  if (schema.type === 'string' && typeof current === 'string') return `${current}-x`.slice(0, schema.maxLength ?? 64);
  return undefined;
}

const writeOps = (ops: readonly SpecOperation[]) => ops.filter((op) => op.method === 'PATCH' && pathParameters(op).length === 0 && Object.values(propertiesOf(requestSchema(op))).some((p) => p.readOnly));

export const properties: ProbeModule = {
  name: 'properties',
  plan(context) {
    const out: PlannedProbe[] = [
      { rule: 'api3.undeclared-fields', endpoint: '*', description: 'compare every JSON response received with a credential to its declared schema', destructive: false, maxRequests: 0 },
      { rule: 'api3.secret-exposure', endpoint: '*', description: 'search every JSON response received with a credential for secrets and password hashes', destructive: false, maxRequests: 0 },
    ];
    for (const op of writeOps(context.spec.operations)) {
      const identity = context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role));
      if (identity) out.push({ rule: 'api3.mass-assignment', operationId: op.operationId, endpoint: endpointOf(op), identity: identity.name, description: `send readOnly properties with changed values to ${identity.name}'s own resource, then put them back`, destructive: false, maxRequests: 3 });
    }
    return out;
  },
  async run(session, planned, report) {
    const rules = new Set(planned.map((p) => p.rule));
    for (const probe of planned.filter((p) => p.rule === 'api3.mass-assignment')) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      if (op && identity) await massAssignment(session, op, identity, report);
    }
    const undeclared = new Set<string>();
    const secrets = new Set<string>();
    for (const r of session.recorded) {
      if (!is2xx(r.response)) continue;
      const body = jsonOf(r.response);
      if (body === undefined) continue;
      const evidence = [evidenceOf(session, r.request, r.response)];
      const extra = undeclaredProperties(body, successSchema(r.op));
      if (rules.has('api3.undeclared-fields') && extra.length > 0 && !undeclared.has(r.op.operationId)) {
        undeclared.add(r.op.operationId);
        report(findingOf('api3.undeclared-fields', { operation: r.op, detail: `${endpointOf(r.op)} returned properties its schema does not declare: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', …' : ''}.`, evidence }));
      }
      const found = secretFields(body);
      if (rules.has('api3.secret-exposure') && found.length > 0 && !secrets.has(r.op.operationId)) {
        secrets.add(r.op.operationId);
        report(findingOf('api3.secret-exposure', { operation: r.op, detail: `${endpointOf(r.op)} returned secrets: ${found.slice(0, 8).join(', ')} (values masked in the evidence).`, evidence }));
      }
    }
  },
};

async function massAssignment(session: ScanSession, op: SpecOperation, identity: Identity, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  // Without a read of the current values the probe could not put them back: then it does not write at all.
  const read = session.spec.operations.find((o) => o.method === 'GET' && o.path === op.path);
  if (!read) return;
  const before = await session.client.send(requestAs(session, identity, 'GET', op.path));
  const current = is2xx(before) ? jsonOf(before) : undefined;
  if (current === null || typeof current !== 'object' || Array.isArray(current)) return;
  const body: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(propertiesOf(requestSchema(op)))) {
    if (!schema.readOnly) continue;
    const value = changedValue(name, schema, (current as Record<string, unknown>)[name]);
    if (value !== undefined) body[name] = value;
  }
  if (Object.keys(body).length === 0) return;
  const request = requestAs(session, identity, 'PATCH', op.path, { body });
  const response = await session.client.send(request);
  if (!is2xx(response)) return;
  const after = jsonOf(response) as Record<string, unknown> | undefined;
  const applied = Object.keys(body).filter((name) => after !== null && typeof after === 'object' && JSON.stringify(after[name]) === JSON.stringify(body[name]));
  if (applied.length === 0) return;
  report(findingOf('api3.mass-assignment', { operation: op, detail: `${identity.name}'s ${endpointOf(op)} applied read-only properties: ${applied.join(', ')}.`, evidence: [evidenceOf(session, request, response)] }));
  // Put the identity's own object back as it was.
  const restore = Object.fromEntries(applied.map((name) => [name, (current as Record<string, unknown>)[name]]));
  await session.client.send(requestAs(session, identity, 'PATCH', op.path, { body: restore }));
}
