import type { Identity, RequestContext } from '../../pipeline/types.ts';

/** Headers never exposed to rules: credentials stay out of rule inputs (and so out of any rule error message). */
const HIDDEN_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'x-api-key']);

/** The `request` variable of CEL rules: method, path, params, query (string or list of strings), headers, body. */
export function requestVariable(ctx: RequestContext, body: unknown): Record<string, unknown> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(ctx.query.keys())) {
    const all = ctx.query.getAll(key);
    query[key] = all.length === 1 ? all[0]! : all;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.headers)) {
    if (value === undefined || HIDDEN_HEADERS.has(name) || name.startsWith(':')) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const out: Record<string, unknown> = { method: ctx.method, path: ctx.path, params: { ...ctx.params }, query, headers };
  if (body !== undefined) out['body'] = body;
  return out;
}

/** The `identity` variable: subject, consumer, tenant, roles, scopes, claims, method (absent fields stay absent). */
export function identityVariable(identity: Identity | undefined): Record<string, unknown> {
  if (!identity) return { authenticated: false, roles: [], scopes: [], claims: {} };
  const out: Record<string, unknown> = {
    authenticated: true,
    subject: identity.subject,
    roles: [...identity.roles],
    scopes: [...identity.scopes],
    claims: identity.claims,
    method: identity.method,
  };
  if (identity.consumer !== undefined) out['consumer'] = identity.consumer;
  if (identity.tenant !== undefined) out['tenant'] = identity.tenant;
  return out;
}
