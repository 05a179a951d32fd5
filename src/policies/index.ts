import type { ApiConfig, RampartConfig } from '../config/types.ts';
import type { LoadedSpec, SpecOperation } from '../openapi/load.ts';
import type { Services } from '../pipeline/services.ts';
import type { RequestPolicy, ResponsePolicy } from '../pipeline/stages.ts';
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

/** What a policy factory sees when compiling one route. */
export interface PolicyBuildInput {
  readonly config: RampartConfig;
  readonly api: ApiConfig;
  /** Index of `api` in `config.apis`, for config paths in errors. */
  readonly apiIndex: number;
  readonly operationId: string;
  readonly method: string;
  /** Undefined for passthrough APIs. */
  readonly operation: SpecOperation | undefined;
  /** The API's whole spec (to resolve operations a policy refers to); undefined for passthrough APIs. */
  readonly spec?: LoadedSpec;
  readonly maxBodyBytes: number;
  readonly contentTypes: ReadonlySet<string>;
  readonly services: Services;
}

/**
 * A policy folder's entry point: given a route, returns the compiled policy for it, or undefined when the policy
 * does not apply. Factories validate what the schema cannot and throw an Error naming the config path; they do
 * all setup here so the per-request function does none.
 */
export interface PolicyFactory {
  readonly name: string;
  build(input: PolicyBuildInput): CompiledPolicies | undefined;
}

/** What one factory call compiled for a route: request and/or response policies that may share state. */
export interface CompiledPolicies {
  readonly request?: RequestPolicy | readonly RequestPolicy[] | undefined;
  readonly response?: ResponsePolicy | readonly ResponsePolicy[] | undefined;
}

/** Every policy Rampart knows. Order here does not matter: each policy names its stage, and stages fix the order. */
export const POLICY_FACTORIES: readonly PolicyFactory[] = [
  { name: 'request-limits', build: (input) => ({ request: createRequestLimitsPolicy(input) }) },
  { name: 'ip-filter', build: (input) => ({ request: createIpFilterPolicy(input.config.ip_filter, input.services.blocks) }) },
  { name: 'authenticate', build: (input) => ({ request: createAuthnPolicy(input) }) },
  {
    name: 'authorize',
    build: (input) => {
      const plan = authzPlan(input);
      return { request: createAuthzPolicy(input, plan), response: createOwnerResponsePolicy(input, plan) };
    },
  },
  { name: 'validate', build: (input) => ({ request: createValidatePolicy(input) }) },
  { name: 'rate-limit', build: (input) => ({ request: createRateLimitPolicies(input) }) },
  { name: 'concurrency', build: (input) => ({ request: createConcurrencyPolicy(input) }) },
  { name: 'brute-force', build: (input) => createBruteForcePolicies(input) },
  { name: 'response-contract', build: (input) => ({ response: createResponseContractPolicy(input) }) },
  { name: 'response-headers', build: (input) => ({ response: createResponseHeadersPolicy(input) }) },
  { name: 'audit', build: (input) => ({ response: createAuditResponsePolicy(input.config.audit, input.services.audit) }) },
];
