import { existsSync } from 'node:fs';
import type { BlockList } from 'node:net';
import { cidrList } from '../http/cidr.ts';
import type { LoadedConfig } from '../config/load.ts';
import { ConfigError, ConfigIssueError, isConfigPath, type ConfigIssue } from '../config/errors.ts';
import type { ApiConfig, RampartConfig } from '../config/types.ts';
import { loadSpec, SpecError, type LoadedSpec, type SpecOperation } from '../openapi/load.ts';
import { createHostMatcher, type HostMatcher } from '../http/hosts.ts';
import { Router, type RouteMatch } from './router.ts';
import type { LoginRegistration } from '../counters/index.ts';
import { orderPolicies, type CompiledRoute, type EventStreamContract, type PolicyBuildInput, type PolicyRegistry, type RequestPolicy, type ResponsePolicy, type SecurityHeaders, type Services } from './types.ts';

/** A rate limit as far as the compiler checks it: the operations it names. */
interface NamesOperations {
  readonly operations?: readonly string[];
}

const PASSTHROUGH_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
const PASSTHROUGH_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

interface CompiledApi {
  readonly api: ApiConfig;
  readonly prefix: string;
  readonly router: Router<CompiledRoute>;
}

/** The compiled form of one config: what the data plane consults per request. Immutable; reload swaps it whole. */
export class RouteTable {
  readonly config: RampartConfig;
  readonly file: string;
  readonly watchFiles: readonly string[];
  readonly routes: readonly CompiledRoute[];
  readonly securityHeaders: SecurityHeaders;
  readonly trustedProxies: BlockList | undefined;
  /** `listen.hosts` as a matcher; undefined when the list is empty (any host, X-Forwarded-Host from the listener). */
  readonly hosts: HostMatcher | undefined;
  readonly specs: ReadonlyMap<string, LoadedSpec>;
  /** The login routes compiled into this table (for the lockout admin API): swapped with it, kept on a rejected reload. */
  readonly logins: ReadonlyMap<string, LoginRegistration>;
  /** Configuration warnings (`path: message`), each once: accepted settings weaker than they should be. */
  readonly warnings: readonly string[];
  readonly #apis: readonly CompiledApi[];

  constructor(
    loaded: LoadedConfig,
    apis: readonly CompiledApi[],
    routes: readonly CompiledRoute[],
    specs: ReadonlyMap<string, LoadedSpec>,
    securityHeaders: SecurityHeaders,
    trustedProxies: BlockList | undefined,
    logins: ReadonlyMap<string, LoginRegistration> = new Map(),
    warnings: readonly string[] = [],
  ) {
    this.config = loaded.config;
    this.file = loaded.file;
    this.watchFiles = loaded.watchFiles;
    this.#apis = [...apis].sort((a, b) => b.prefix.length - a.prefix.length);
    this.routes = routes;
    this.specs = specs;
    this.securityHeaders = securityHeaders;
    this.trustedProxies = trustedProxies;
    this.logins = logins;
    this.warnings = warnings;
    const hosts = loaded.config.listen.hosts ?? [];
    this.hosts = hosts.length > 0 ? createHostMatcher(hosts) : undefined;
  }

  /** Finds the API by base path, then the operation. `path` is the validated, still-encoded request path. */
  match(method: string, path: string): RouteMatch<CompiledRoute> {
    for (const entry of this.#apis) {
      const inner = stripPrefix(path, entry.prefix);
      if (inner !== undefined) return entry.router.match(method, inner);
    }
    return { kind: 'not_found' };
  }
}

/** The part of `path` after an API's base path, or undefined when the path is not under it. */
export function stripPrefix(path: string, prefix: string): string | undefined {
  if (prefix === '/') return path;
  if (path === prefix) return '/';
  return path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 ? path.slice(prefix.length) : undefined;
}

/**
 * Compiles config + OpenAPI specs into a route table: for each operation, the policies the registry's factories
 * build, in stage order, with every matcher and validator prebuilt. Throws ConfigError (naming the config path) or SpecError (naming the file).
 */
export async function compileRouteTable(loaded: LoadedConfig, services: Services, registry: PolicyRegistry): Promise<RouteTable> {
  const warnings = new Set<string>();
  const env: CompileEnv = { services, registry, logins: new Map(), warn: (path, message) => warnings.add(`${path}: ${message}`) };
  const { config } = loaded;
  const specs = new Map<string, LoadedSpec>();
  const apis: CompiledApi[] = [];
  const routes: CompiledRoute[] = [];
  for (const [apiIndex, api] of config.apis.entries()) {
    const router = new Router<CompiledRoute>();
    const at = `apis[${apiIndex}]`;
    try {
      if (api.spec) {
        if (!specs.has(api.spec) && !existsSync(api.spec)) {
          throw new ConfigError(loaded.file, [{ path: `${at}.spec`, message: `${api.spec}: no such file`, hint: 'give the OpenAPI document\'s path, relative to the config file' }]);
        }
        const spec = specs.get(api.spec) ?? (await loadSpec(api.spec));
        specs.set(api.spec, spec);
        checkOperationOverrides(api, spec, at, loaded.file);
        for (const operation of spec.operations) {
          const route = compileRoute(config, api, apiIndex, operation.operationId, operation.method, operation.path, operation, env, spec);
          router.add(operation.method, operation.path, route);
          routes.push(route);
        }
        for (const { operation, local } of env.registry.localOperations?.(api, apiIndex, spec, services) ?? []) {
          const route = compileRoute(config, api, apiIndex, operation.operationId, operation.method, operation.path, operation, env, spec, local);
          router.add(operation.method, operation.path, route);
          routes.push(route);
        }
      }
      if (api.passthrough && !api.spec) {
        checkPassthroughHasNoOperations(api, at, loaded.file);
        for (const method of PASSTHROUGH_METHODS) {
          const route = compileRoute(config, api, apiIndex, `${api.name}:passthrough`, method, '*', undefined, env);
          router.add(method, '*', route);
          routes.push(route);
        }
      }
    } catch (error) {
      if (error instanceof ConfigError || error instanceof SpecError) throw error;
      if (error instanceof ConfigIssueError) {
        // A problem found in the API's spec (an x-rampart-* extension) is filed under the API, naming the spec place.
        const { issue } = error;
        throw new ConfigError(loaded.file, [isConfigPath(issue.path) ? issue : { ...issue, path: at, message: `${issue.path}: ${issue.message}` }]);
      }
      throw new ConfigError(loaded.file, [{ path: at, message: (error as Error).message }]);
    }
    apis.push({ api, prefix: api.base_path, router });
  }
  checkPlanOperations(config, specs, loaded.file);
  let trusted: BlockList | undefined;
  try {
    trusted = cidrList(config.trusted_proxies, 'trusted_proxies');
  } catch (error) {
    throw new ConfigError(loaded.file, [{ path: 'trusted_proxies', message: (error as Error).message }]);
  }
  return new RouteTable(loaded, apis, routes, specs, registry.securityHeaders(config.security_headers), trusted, env.logins, [...warnings]);
}

/** What every route's compilation shares: the gateway's services and the policy registry (passed in by server/). */
interface CompileEnv {
  readonly services: Services;
  readonly registry: PolicyRegistry;
  /** Filled by the brute-force factories; becomes the table's `logins`. */
  readonly logins: Map<string, LoginRegistration>;
  readonly warn: (path: string, message: string) => void;
}

function compileRoute(
  config: RampartConfig,
  api: ApiConfig,
  apiIndex: number,
  operationId: string,
  method: string,
  template: string,
  operation: SpecOperation | undefined,
  env: CompileEnv,
  spec?: LoadedSpec,
  local?: CompiledRoute['local'],
): CompiledRoute {
  const { services, registry } = env;
  const override = api.operations[operationId];
  const maxBodyBytes = override?.max_body_bytes ?? api.max_body_bytes ?? config.limits.max_body_bytes;
  const declaredTypes = operation?.requestBody ? Object.keys(operation.requestBody.content ?? {}) : [];
  const types = override?.content_types ?? api.content_types ?? (operation ? declaredTypes : PASSTHROUGH_TYPES);
  const contentTypes = new Set(types.map((t) => t.toLowerCase()));
  const input: PolicyBuildInput = { config, api, apiIndex, operationId, method, operation, ...(spec ? { spec } : {}), maxBodyBytes, contentTypes, services, logins: env.logins, warn: env.warn };
  const request: RequestPolicy[] = [];
  const response: ResponsePolicy[] = [];
  for (const factory of registry.factories) {
    const built = factory.setting ? factory.build(input, (api as unknown as Readonly<Record<string, unknown>>)[factory.setting.key]) : factory.build(input);
    if (built?.request) request.push(...(Array.isArray(built.request) ? built.request : [built.request as RequestPolicy]));
    if (built?.response) response.push(...(Array.isArray(built.response) ? built.response : [built.response as ResponsePolicy]));
  }
  const corsConfig = override?.cors ?? api.cors;
  const upstream = config.upstreams[api.upstream]!;
  const websocket = local ? undefined : registry.websocket?.(method, api, operationId, operation);
  return Object.freeze({
    api,
    operationId,
    method,
    template,
    operation,
    upstreamName: api.upstream,
    upstream,
    maxBodyBytes,
    contentTypes,
    cors: corsConfig ? registry.cors(corsConfig, [method]) : undefined,
    policies: Object.freeze(orderPolicies(request)),
    responsePolicies: Object.freeze(orderPolicies(response)),
    buffersResponse: response.some((p) => p.needsBody),
    ...(local ? { local } : {}),
    ...(websocket ? { websocket } : {}),
    ...eventStreamOf(response, api),
  });
}

/** The event-stream contract one of the route's response policies declares; else, with `event_streams: passthrough`, an unchecked one. */
function eventStreamOf(policies: readonly ResponsePolicy[], api: ApiConfig): { eventStream?: EventStreamContract } {
  const eventStream = policies.find((p) => p.eventStream !== undefined)?.eventStream;
  if (eventStream) return { eventStream };
  return api.response.event_streams === 'passthrough' ? { eventStream: PASSTHROUGH_EVENTS } : {};
}

const PASSTHROUGH_EVENTS: EventStreamContract = Object.freeze({ monitor: false, maxEventBytes: Number.MAX_SAFE_INTEGER });

const USE_KNOWN_ID = 'use an operationId from the spec';

/**
 * Every operationId the config names for this API must exist in its spec: a rule, override or rate limit keyed by
 * an unknown id would silently protect nothing. Throws one ConfigError listing each offending config path.
 */
function checkOperationOverrides(api: ApiConfig, spec: LoadedSpec, at: string, file: string): void {
  const known = new Set(spec.operations.map((o) => o.operationId));
  const issues: ConfigIssue[] = [];
  for (const key of ['operations', 'rules', 'owner_rules'] as const) {
    for (const id of Object.keys(api[key] ?? {})) {
      if (!known.has(id)) issues.push({ path: `${at}.${key}.${id}`, message: `no operation "${id}" in ${spec.file}`, hint: USE_KNOWN_ID });
    }
  }
  const where = `in ${spec.file}`;
  issues.push(...unknownLimitOperations(api.rate_limits, `${at}.rate_limits`, known, where));
  for (const [id, op] of Object.entries(api.operations)) {
    const path = `${at}.operations.${id}.rate_limits`;
    issues.push(...unknownLimitOperations(op.rate_limits, path, known, where));
    op.rate_limits?.forEach((limit, i) => {
      if (limit.operations && !limit.operations.includes(id)) {
        issues.push({ path: `${path}[${i}].operations`, message: `does not include "${id}", so this limit never applies`, hint: `remove operations (it defaults to "${id}") or move the limit to ${at}.rate_limits` });
      }
    });
  }
  if (issues.length > 0) throw new ConfigError(file, issues);
}

/** A passthrough API has no operations: naming any in its rules, overrides or limits is a mistake. */
function checkPassthroughHasNoOperations(api: ApiConfig, at: string, file: string): void {
  const issues: ConfigIssue[] = [];
  const hint = 'a passthrough API has no operationIds: remove it, or give the API a spec';
  for (const key of ['operations', 'rules', 'owner_rules'] as const) {
    for (const id of Object.keys(api[key] ?? {})) issues.push({ path: `${at}.${key}.${id}`, message: `no operation "${id}" (the API has no spec)`, hint });
  }
  issues.push(...unknownLimitOperations(api.rate_limits, `${at}.rate_limits`, new Set(), '(the API has no spec)'));
  if (issues.length > 0) throw new ConfigError(file, issues);
}

/** Issues for each `operations: [...]` entry of a list of rate limits that is not in `known`. */
function unknownLimitOperations(limits: readonly NamesOperations[] | undefined, at: string, known: ReadonlySet<string>, where: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  limits?.forEach((limit, i) =>
    limit.operations?.forEach((id, j) => {
      if (!known.has(id)) issues.push({ path: `${at}[${i}].operations[${j}]`, message: `no operation "${id}" ${where}`, hint: USE_KNOWN_ID });
    }),
  );
  return issues;
}

/** Plans apply to every API: an operationId in a plan's limit must exist in at least one spec. */
function checkPlanOperations(config: RampartConfig, specs: ReadonlyMap<string, LoadedSpec>, file: string): void {
  const known = new Set([...specs.values()].flatMap((s) => s.operations.map((o) => o.operationId)));
  const issues = Object.entries(config.plans ?? {}).flatMap(([plan, limits]) => unknownLimitOperations(limits, `plans.${plan}`, known, 'in any API spec'));
  if (issues.length > 0) throw new ConfigError(file, issues);
}
