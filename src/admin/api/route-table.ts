import type { RouteTable } from '../../pipeline/compile.ts';
import type { CompiledRoute } from '../../pipeline/types.ts';
import { summariseAuthorization } from '../../policies/authz/report.ts';
import { wafReport } from '../../policies/waf/index.ts';
import { fieldProtectionReport } from '../../policies/field-protection/index.ts';
import { pageInMemory, queryOf } from '../paging.ts';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../server.ts';

/** One compiled route as the dashboard's routes page shows it: who may call it and what guards it. */
export interface RouteView {
  readonly api: string;
  readonly method: string;
  readonly path: string;
  readonly operation: string;
  readonly upstream: string;
  readonly auth: string;
  readonly scopes: string;
  readonly roles: string;
  readonly rules: string;
  readonly ownership: string;
  /** Nothing restricts who may call it. */
  readonly unprotected: boolean;
  /** Request validation against the spec (passthrough routes have none). */
  readonly validation: boolean;
  readonly waf: { readonly mode: string; readonly fields: readonly string[] };
  readonly rate_limits: readonly { readonly name: string; readonly key: string; readonly limit: string | undefined; readonly algorithm: string }[];
  readonly max_body_bytes: number;
  /** Fields marked `x-rampart-encrypt` (request ones reach the upstream as ciphertext). */
  readonly encrypted_fields: { readonly request: readonly string[]; readonly response: readonly string[] };
  /** Every policy in stage order (`stage:name`, then `response:name`). */
  readonly policies: readonly string[];
}

/** The view of one route. */
export function routeView(route: CompiledRoute): RouteView {
  const authz = summariseAuthorization(route);
  const api = route.api;
  const opLimits = api.operations[route.operationId]?.rate_limits ?? [];
  const replaced = new Set(opLimits.map((l) => l.name));
  const limits = [...(api.rate_limits ?? []).filter((l) => !replaced.has(l.name) && (!l.operations || l.operations.includes(route.operationId))), ...opLimits];
  return {
    api: api.name,
    method: route.method,
    path: (api.base_path === '/' ? '' : api.base_path) + route.template,
    operation: route.operationId,
    upstream: route.upstreamName,
    auth: authz.auth,
    scopes: authz.scopes,
    roles: authz.roles,
    rules: authz.rules,
    ownership: authz.owner,
    unprotected: authz.unprotected,
    validation: route.policies.some((p) => p.name === 'validate'),
    waf: wafReport(api, route.operation),
    rate_limits: limits.map((l) => ({ name: l.name, key: l.key, limit: l.limit ?? l.rate, algorithm: l.algorithm })),
    max_body_bytes: route.maxBodyBytes,
    encrypted_fields: fieldProtectionReport(route),
    policies: [...route.policies.map((p) => `${p.stage}:${p.name}`), ...route.responsePolicies.map((p) => `response:${p.name}`)],
  };
}

/** `GET /admin/v1/routes`: the compiled route table in force (it follows config reloads), paged in table order. */
export function registerRouteTable(admin: AdminServer, table: () => RouteTable): void {
  admin.route('GET', `${ADMIN_API_BASE}/routes`, (req, res) => {
    const routes = table().routes.map((route, i) => ({ i, view: routeView(route) }));
    const page = pageInMemory(routes, queryOf(req.url), (r) => String(r.i).padStart(6, '0'));
    sendJson(res, 200, { items: page.items.map((r) => r.view), next: page.next, unprotected: routes.filter((r) => r.view.unprotected).length });
  });
}
