import { ConfigIssueError } from '../../config/errors.ts';
import type { OwnerRuleConfig } from '../../config/types.ts';
import { GatewayError, type ErrorCode } from '../../problem.ts';
import type { RequestContext, ProxiedResponse, RequestPolicy, ResponsePolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { parsedBody } from '../validate/body.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import { compileRule, type CompiledRule } from './cel.ts';
import { compileOwnerLookup, ownerLookupConfig, type OwnerLookup } from './lookup.ts';
import { compileScopeCheck, type ScopeCheck } from './scopes.ts';
import { identityVariable, requestVariable } from './variables.ts';
import { jsonBodyOf, replaceJsonBody } from '../response/json.ts';

/** Everything authorization knows about one operation, compiled at start (also printed by `rampart check`). */
export interface AuthzPlan {
  readonly operationId: string;
  readonly scopes: ScopeCheck | undefined;
  /** Roles of which the caller needs one; empty = no role check. Config wins over `x-rampart-roles`. */
  readonly roles: readonly string[];
  readonly rolesOrigin: string | undefined;
  /** Attribute rules (config and `x-rampart-rule`); all must hold. */
  readonly rules: readonly CompiledRule[];
  readonly owner: OwnerPlan | undefined;
  /** Ownership of an object the request references, fetched from the upstream (config wins over `x-rampart-owner-lookup`). */
  readonly lookup: OwnerLookup | undefined;
}

export interface OwnerPlan {
  readonly request: CompiledRule | undefined;
  readonly response: CompiledRule | undefined;
  readonly filter: CompiledRule | undefined;
  readonly every: CompiledRule | undefined;
  /** Code of a denied object access: `not_found` (default, no existence leak) or `forbidden`. */
  readonly denyCode: ErrorCode;
}

/**
 * Compiles the authorization plan of one route, shared by its request and response policies. Throws an Error
 * naming the config path (`apis[i].rules.<op>`…) when a rule does not compile.
 */
export function authzPlan(input: PolicyBuildInput): AuthzPlan {
  const { api, apiIndex, operation, operationId } = input;
  const at = `apis[${apiIndex}]`;
  const configRoles = api.operations[operationId]?.roles;
  const specRoles = operation?.raw['x-rampart-roles'];
  if (specRoles !== undefined && (!Array.isArray(specRoles) || !specRoles.every((r) => typeof r === 'string'))) {
    throw new Error(`operation ${operationId}: x-rampart-roles must be a list of strings`);
  }
  const roles = configRoles ?? (specRoles as string[] | undefined) ?? [];
  const rules: CompiledRule[] = [];
  const specRule = operation?.raw['x-rampart-rule'];
  if (specRule !== undefined) {
    if (typeof specRule !== 'string') throw new Error(`operation ${operationId}: x-rampart-rule must be a CEL string`);
    rules.push(compileRule(specRule, `${operationId} x-rampart-rule`, 'request'));
  }
  const configRule = api.rules[operationId];
  if (configRule !== undefined) rules.push(compileRule(configRule, `${at}.rules.${operationId}`, 'request'));
  const ownerConfig = api.owner_rules[operationId] ?? (operation?.raw['x-rampart-owner'] as OwnerRuleConfig | undefined);
  const ownerAt = api.owner_rules[operationId] !== undefined ? `${at}.owner_rules.${operationId}` : `${operationId} x-rampart-owner`;
  const configLookup = api.operations[operationId]?.owner_lookup;
  const specLookup = operation?.raw['x-rampart-owner-lookup'];
  const lookupAt = configLookup ? `${at}.operations.${operationId}.owner_lookup` : `${operationId} x-rampart-owner-lookup`;
  const lookupConfig = configLookup ?? specLookup;
  const plan: AuthzPlan = {
    operationId,
    scopes: operation ? compileScopeCheck(operation.security, operation.securitySchemes) : undefined,
    roles,
    rolesOrigin: configRoles ? `${at}.operations.${operationId}.roles` : specRoles ? 'x-rampart-roles' : undefined,
    rules,
    owner: ownerConfig === undefined ? undefined : compileOwner(ownerConfig, ownerAt),
    lookup: lookupConfig === undefined ? undefined : compileOwnerLookup(ownerLookupConfig(lookupConfig, lookupAt, !configLookup), lookupAt, input),
  };
  return plan;
}

function compileOwner(config: OwnerRuleConfig, at: string): OwnerPlan {
  if (typeof config === 'string') {
    const onResponse = /\bresponse\b/.test(config);
    return {
      request: onResponse ? undefined : compileRule(config, at, 'request'),
      response: onResponse ? compileRule(config, at, 'response') : undefined,
      filter: undefined,
      every: undefined,
      denyCode: 'not_found',
    };
  }
  if (typeof config !== 'object' || config === null) throw new ConfigIssueError(at, 'must be a CEL string or an object');
  return {
    request: config.request ? compileRule(config.request, `${at}.request`, 'request') : undefined,
    response: config.response ? compileRule(config.response, `${at}.response`, 'response') : undefined,
    filter: config.filter ? compileRule(config.filter, `${at}.filter`, 'item') : undefined,
    every: config.every ? compileRule(config.every, `${at}.every`, 'item') : undefined,
    denyCode: (config.deny_status ?? 404) === 403 ? 'forbidden' : 'not_found',
  };
}

function deny(code: ErrorCode, reason: string, headers?: Record<string, string>): GatewayError {
  return new GatewayError(code, reason, headers ? { headers } : undefined);
}

/**
 * The authorize stage (DESIGN.md §3 stage 8) for one operation: OpenAPI scopes (403 `insufficient_scope` with a
 * Bearer challenge), roles (403, function-level authorization), CEL rules (403) and request-side ownership rules
 * (404 by default, so existence is not leaked), then the owner lookup of a referenced object (same status; 502/504
 * when the lookup fails). Rules that read `request.body` get the parsed (not yet validated) body. Any rule error
 * denies. Returns undefined when the operation has nothing to authorize.
 */
export function createAuthzPolicy(input: PolicyBuildInput, plan: AuthzPlan = authzPlan(input)): RequestPolicy | undefined {
  const scopes = plan.scopes && !plan.scopes.public ? plan.scopes : undefined;
  const roles = plan.roles;
  const rules = plan.rules;
  const ownerRule = plan.owner?.request;
  const ownerCode = plan.owner?.denyCode ?? 'not_found';
  const lookup = plan.lookup;
  if (!scopes && roles.length === 0 && rules.length === 0 && !ownerRule && !lookup) return undefined;
  const readsBody = rules.some((r) => r.readsBody) || ownerRule?.readsBody === true || lookup?.readsBody === true;
  const limits = bodyLimitsFor(input.api, input.maxBodyBytes);
  const challenge = `Bearer error="insufficient_scope"${scopes && scopes.bearerScopes.length > 0 ? `, scope="${scopes.bearerScopes.join(' ')}"` : ''}`;

  const evaluate = (ctx: RequestContext, body: unknown): void => {
    const variables = { request: requestVariable(ctx, body), identity: identityVariable(ctx.identity), now: new Date() };
    for (const rule of rules) {
      const result = rule.evaluate(variables);
      if (!result.allowed) throw deny('forbidden', `rule ${rule.origin} denied${result.error ? ` (${result.error})` : ''}`);
    }
    if (ownerRule) {
      const result = ownerRule.evaluate(variables);
      if (!result.allowed) throw deny(ownerCode, `ownership rule ${ownerRule.origin} denied${result.error ? ` (${result.error})` : ''}`);
    }
  };

  return {
    name: 'authorize',
    stage: 'authorize',
    run(ctx: RequestContext): void | Promise<void> {
      if (scopes && !scopes.allows(ctx.identity)) {
        if (!ctx.identity) throw deny('unauthorized', 'no identity on a protected operation');
        // RFC 6750's challenge belongs to bearer tokens; an API key or certificate caller gets the problem alone.
        const bearer = ctx.identity.method === 'jwt' || ctx.identity.method === 'introspection';
        throw deny('insufficient_scope', 'credential lacks the scopes the operation requires', bearer ? { 'www-authenticate': challenge } : undefined);
      }
      if (roles.length > 0 && !(ctx.identity?.roles.some((role) => roles.includes(role)) ?? false)) {
        throw deny('forbidden', `caller lacks every role of ${plan.rolesOrigin}`);
      }
      if (rules.length === 0 && !ownerRule && !lookup) return;
      if (!readsBody) {
        evaluate(ctx, undefined);
        return lookup?.check(ctx, undefined);
      }
      return parsedBody(ctx, limits).then((body) => {
        evaluate(ctx, body?.kind === 'raw' ? undefined : body?.value);
        return lookup?.check(ctx, body);
      });
    },
  };
}

/**
 * Response-side ownership (BOLA on reads): on a 2xx JSON response, `response` rules must hold for the body,
 * `every` for each list item, and `filter` removes the items it rejects (a single object is treated as a list of
 * one). A denied read answers 404 by default. Runs before response minimisation, on the upstream's full body.
 * On every operation with an ownership rule (request or response side), an upstream 404 becomes Rampart's 404
 * problem and an upstream 403 the read's deny code, so a missing object and someone else's answer the same bytes.
 */
export function createOwnerResponsePolicy(input: PolicyBuildInput, plan: AuthzPlan = authzPlan(input)): ResponsePolicy | undefined {
  const owner = plan.owner;
  if (!owner) return undefined;
  const { response: rule, filter, every, denyCode } = owner;
  const checksBody = rule !== undefined || filter !== undefined || every !== undefined;
  const reads = input.method === 'GET';
  return {
    name: 'ownership',
    stage: 'ownership',
    needsBody: checksBody,
    run(ctx: RequestContext, response: ProxiedResponse): void {
      // The upstream's own "no such object" must look exactly like Rampart's "not yours" (no existence oracle).
      if (response.status === 404) throw deny('not_found', 'upstream answered 404 on an ownership-checked operation');
      if (response.status === 403) throw deny(reads ? denyCode : 'forbidden', 'upstream answered 403 on an ownership-checked operation');
      // A HEAD was fetched upstream as GET (proxy/forward.ts), so its body is judged like a GET's.
      if (!checksBody || response.status < 200 || response.status > 299) return;
      const body = jsonBodyOf(response);
      if (!body.ok) throw deny('upstream_invalid_response', `ownership rule needs a JSON body: ${body.reason}`);
      const base = {
        request: requestVariable(ctx, undefined),
        identity: identityVariable(ctx.identity),
        now: new Date(),
        response: { status: BigInt(response.status), headers: response.headers, body: body.value },
      };
      if (rule) {
        const result = rule.evaluate(base);
        if (!result.allowed) throw deny(denyCode, `ownership rule ${rule.origin} denied the response${result.error ? ` (${result.error})` : ''}`);
      }
      if (!filter && !every) return;
      const isList = Array.isArray(body.value);
      const items: unknown[] = isList ? (body.value as unknown[]) : [body.value];
      if (every) {
        for (const item of items) {
          const result = every.evaluate({ ...base, item });
          if (!result.allowed) throw deny(denyCode, `ownership rule ${every.origin} denied an item${result.error ? ` (${result.error})` : ''}`);
        }
      }
      if (filter) {
        const kept = items.filter((item) => filter.evaluate({ ...base, item }).allowed);
        if (!isList) {
          if (kept.length === 0) throw deny(denyCode, `ownership rule ${filter.origin} denied the object`);
          return;
        }
        if (kept.length !== items.length) {
          ctx.notes.ownershipFiltered = items.length - kept.length;
          replaceJsonBody(response, kept);
        }
      }
    },
  };
}
