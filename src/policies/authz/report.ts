import type { OwnerLookupConfig } from '../../config/types.ts';
import type { CompiledRoute } from '../../pipeline/types.ts';

/** One operation's authorization as `rampart check` prints it. */
export interface AuthzSummary {
  readonly operationId: string;
  /** Alternatives of scheme names, e.g. `oauth | apiKey`; `public` when anonymous access is allowed. */
  readonly auth: string;
  readonly scopes: string;
  readonly roles: string;
  readonly rules: string;
  /** Ownership rules, then the owner lookup of a referenced object (`lookup getAccount(body.accountId): …`). */
  readonly owner: string;
  /** True when nothing restricts who may call the operation. */
  readonly unprotected: boolean;
}

/** Summarises the authorization of a compiled route from its spec operation and API config (no evaluation). */
export function summariseAuthorization(route: CompiledRoute): AuthzSummary {
  const op = route.operation;
  const api = route.api;
  const security = op?.security ?? [];
  const isPublic = security.length === 0 || security.some((r) => Object.keys(r).length === 0);
  const auth = op ? (isPublic ? 'public' : security.map((r) => Object.keys(r).join('+')).join(' | ')) : 'passthrough';
  const scopes = [...new Set(security.flatMap((r) => Object.values(r).flat()))].join(' ') || '-';
  const roles = (api.operations[route.operationId]?.roles ?? (op?.raw['x-rampart-roles'] as string[] | undefined) ?? []).join(',') || '-';
  const rules = [op?.raw['x-rampart-rule'], api.rules[route.operationId]].filter((r): r is string => typeof r === 'string');
  const owner = api.owner_rules[route.operationId];
  const ownerText = owner === undefined ? '' : typeof owner === 'string' ? owner : Object.entries(owner).filter(([k]) => k !== 'deny_status').map(([k, v]) => `${k}: ${String(v)}`).join('; ');
  const lookup = (api.operations[route.operationId]?.owner_lookup ?? op?.raw['x-rampart-owner-lookup']) as Partial<OwnerLookupConfig> | undefined;
  const lookupText = lookup ? `lookup ${String(lookup.operation)}(${String(lookup.from)}): ${String(lookup.rule)}` : '';
  return {
    operationId: route.operationId,
    auth,
    scopes,
    roles,
    rules: rules.join(' && ') || '-',
    owner: [ownerText, lookupText].filter((t) => t !== '').join('; ') || '-',
    // Roles, rules and ownership rules restrict a public operation too (an anonymous caller has no roles).
    unprotected: (auth === 'public' || (auth === 'passthrough' && api.auth === undefined)) && roles === '-' && rules.length === 0 && ownerText === '' && lookupText === '',
  };
}
