import type { ApiConfig, RampartConfig } from '../config/types.ts';
import type { LoadedSpec, SpecOperation } from '../openapi/load.ts';
import type { Services } from '../pipeline/services.ts';
import type { RequestPolicy, ResponsePolicy } from '../pipeline/stages.ts';
import { createRequestLimitsPolicy } from './limits/index.ts';
import { createIpFilterPolicy } from './ip-filter/index.ts';
import { createAuditResponsePolicy } from '../audit/service.ts';
import { createValidatePolicy } from './validate/index.ts';
import { createAuthzPolicy, createOwnerResponsePolicy } from './authz/index.ts';
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
  request?(input: PolicyBuildInput): RequestPolicy | readonly RequestPolicy[] | undefined;
  response?(input: PolicyBuildInput): ResponsePolicy | readonly ResponsePolicy[] | undefined;
}

/** Every policy Rampart knows. Order here does not matter: stages fix the order. */
export const POLICY_FACTORIES: readonly PolicyFactory[] = [
  { name: 'request-limits', request: (input) => createRequestLimitsPolicy(input) },
  { name: 'ip-filter', request: (input) => createIpFilterPolicy(input.config.ip_filter, input.services.blocks) },
  { name: 'authenticate', request: (input) => createAuthnPolicy(input) },
  { name: 'authorize', request: (input) => createAuthzPolicy(input) },
  { name: 'validate', request: (input) => createValidatePolicy(input) },
  { name: 'rate-limit', request: (input) => createRateLimitPolicies(input) },
  { name: 'concurrency', request: (input) => createConcurrencyPolicy(input) },
  {
    name: 'brute-force',
    request: (input) => createBruteForcePolicies(input)?.request,
    response: (input) => createBruteForcePolicies(input)?.response,
  },
  // Response policies run in this order: ownership sees the upstream's full body, then the contract minimises it.
  { name: 'ownership', response: (input) => createOwnerResponsePolicy(input) },
  { name: 'response-contract', response: (input) => createResponseContractPolicy(input) },
  { name: 'response-headers', response: (input) => createResponseHeadersPolicy(input) },
  // Keep last: response policies run in this order, and the audit gate must see the final status.
  { name: 'audit', response: (input) => createAuditResponsePolicy(input.config.audit, input.services.audit) },
];
