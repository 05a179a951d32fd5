import type { PolicyFactory, PolicyRegistry } from '../pipeline/types.ts';
import { routeWebSocket } from '../proxy/websocket/route.ts';
import { createCorsPolicy } from './cors/index.ts';
import { createSecurityHeaders } from './headers/index.ts';

export type { CompiledPolicies, PolicyBuildInput, PolicyFactory } from '../pipeline/types.ts';
import { createRequestLimitsPolicy } from './limits/index.ts';
import { createIpFilterPolicy } from './ip-filter/index.ts';
import { createAuditResponsePolicy } from '../audit/service.ts';
import { createValidatePolicy } from './validate/index.ts';
import { authzPlan, createAuthzPolicy, createOwnerResponsePolicy } from './authz/index.ts';
import { createResponseContractPolicy } from './response/index.ts';
import { createResponseHeadersPolicy } from './response/headers.ts';
import { createAuthnPolicy } from './authn/index.ts';
import { createRateLimitPolicies } from './ratelimit/index.ts';
import { createConcurrencyPolicy } from './concurrency/index.ts';
import { createBruteForcePolicies } from './bruteforce/index.ts';
import { createLeakPolicy, createWafPolicy } from './waf/index.ts';
import { createUpstreamCredentialPolicy } from './upstream-credential/index.ts';
import { createStepUpPolicy } from './step-up/index.ts';
import { createPasswordPolicy } from './password-policy/index.ts';
import { selfServiceRoutes } from './self-service-keys/routes.ts';
import { readOnlyPolicy } from './read-only/index.ts';
import { contentDigestPolicy } from './content-digest/index.ts';
import { fieldProtectionPolicy } from './field-protection/index.ts';
import { upstreamSigningPolicy } from './authn-signature/index.ts';
import { responseSigningPolicy } from './authn-signature/response.ts';

/**
 * Every policy Rampart knows. Each policy names its stage and stages fix the order; within one stage, this list
 * order. An entry's `setting` becomes `apis[].<key>` in the config schema (config/schema.ts reads it from here).
 */
export const POLICY_FACTORIES: readonly PolicyFactory[] = [
  { name: 'request-limits', build: (input) => ({ request: createRequestLimitsPolicy(input) }) },
  { name: 'ip-filter', build: (input) => ({ request: createIpFilterPolicy(input.config.ip_filter, input.services.blocks) }) },
  readOnlyPolicy,
  { name: 'authenticate', build: (input) => ({ request: createAuthnPolicy(input) }) },
  { name: 'step-up', build: (input) => ({ request: createStepUpPolicy(input) }) },
  // Before authorize: its response half decrypts marked fields ahead of the ownership check at the same stage, and its
  // request half encrypts ahead of the credential stage's upstream credential and signing.
  fieldProtectionPolicy,
  {
    name: 'authorize',
    build: (input) => {
      const plan = authzPlan(input);
      return { request: createAuthzPolicy(input, plan), response: createOwnerResponsePolicy(input, plan) };
    },
  },
  contentDigestPolicy,
  { name: 'validate', build: (input) => ({ request: createValidatePolicy(input) }) },
  { name: 'password-policy', build: (input) => ({ request: createPasswordPolicy(input) }) },
  { name: 'rate-limit', build: (input) => ({ request: createRateLimitPolicies(input) }) },
  { name: 'concurrency', build: (input) => ({ request: createConcurrencyPolicy(input) }) },
  { name: 'brute-force', build: (input) => createBruteForcePolicies(input) },
  { name: 'upstream-credential', build: (input) => ({ request: createUpstreamCredentialPolicy(input) }) },
  // After upstream-credential (same stage): it adds to the credential's upstream headers.
  upstreamSigningPolicy,
  responseSigningPolicy,
  { name: 'response-contract', build: (input) => ({ response: createResponseContractPolicy(input) }) },
  // After response-contract: both run at stage `contract`, the leak check on what minimisation left.
  { name: 'waf', build: (input) => ({ request: createWafPolicy(input), response: createLeakPolicy(input) }) },
  { name: 'response-headers', build: (input) => ({ response: createResponseHeadersPolicy(input) }) },
  { name: 'audit', build: (input) => ({ response: createAuditResponsePolicy(input.config.audit, input.services.audit) }) },
];

/** The registry the gateway compiles routes with (src/server/gateway.ts passes it to compileRouteTable). */
export const POLICY_REGISTRY: PolicyRegistry = {
  factories: POLICY_FACTORIES,
  cors: createCorsPolicy,
  securityHeaders: createSecurityHeaders,
  localOperations: selfServiceRoutes,
  websocket: (method, api, operationId, operation) => routeWebSocket(method, api.websocket, api.operations[operationId]?.websocket, operation?.raw['x-rampart-websocket'] === true),
};
