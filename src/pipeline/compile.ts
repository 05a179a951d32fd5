import { BlockList, isIP } from 'node:net';
import type { LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import type { ApiConfig, RampartConfig } from '../config/types.ts';
import { loadSpec, SpecError, type LoadedSpec, type SpecOperation } from '../openapi/load.ts';
import { createCorsPolicy } from '../policies/cors/index.ts';
import { createSecurityHeaders, type SecurityHeaders } from '../policies/headers/index.ts';
import { POLICY_FACTORIES, type PolicyBuildInput } from '../policies/index.ts';
import type { CompiledRoute } from './route.ts';
import { Router, type RouteMatch } from './router.ts';
import type { Services } from './services.ts';
import { orderPolicies, type RequestPolicy, type ResponsePolicy } from './stages.ts';

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
  readonly specs: ReadonlyMap<string, LoadedSpec>;
  readonly #apis: readonly CompiledApi[];

  constructor(
    loaded: LoadedConfig,
    apis: readonly CompiledApi[],
    routes: readonly CompiledRoute[],
    specs: ReadonlyMap<string, LoadedSpec>,
  ) {
    this.config = loaded.config;
    this.file = loaded.file;
    this.watchFiles = loaded.watchFiles;
    this.#apis = [...apis].sort((a, b) => b.prefix.length - a.prefix.length);
    this.routes = routes;
    this.specs = specs;
    this.securityHeaders = createSecurityHeaders(loaded.config.security_headers);
    this.trustedProxies = buildBlockList(loaded.config.trusted_proxies);
  }

  /** Finds the API by base path, then the operation. `path` is the validated, still-encoded request path. */
  match(method: string, path: string): RouteMatch<CompiledRoute> {
    for (const entry of this.#apis) {
      const inner = stripPrefix(path, entry.prefix);
      if (inner !== undefined) return entry.router.match(method, inner);
    }
    return { kind: 'not_found' };
  }

  /** Methods declared at a path (for CORS preflights). */
  methodsAt(path: string): readonly string[] {
    for (const entry of this.#apis) {
      const inner = stripPrefix(path, entry.prefix);
      if (inner !== undefined) return entry.router.methodsAt(inner);
    }
    return [];
  }
}

/** The part of `path` after an API's base path, or undefined when the path is not under it. */
export function stripPrefix(path: string, prefix: string): string | undefined {
  if (prefix === '/') return path;
  if (path === prefix) return '/';
  return path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 ? path.slice(prefix.length) : undefined;
}

/**
 * Compiles config + OpenAPI specs into a route table: for each operation, its policies in stage order with every
 * matcher and validator prebuilt. Throws ConfigError (naming the config path) or SpecError (naming the file).
 */
export async function compileRouteTable(loaded: LoadedConfig, services: Services): Promise<RouteTable> {
  const { config } = loaded;
  const specs = new Map<string, LoadedSpec>();
  const apis: CompiledApi[] = [];
  const routes: CompiledRoute[] = [];
  for (const [apiIndex, api] of config.apis.entries()) {
    const router = new Router<CompiledRoute>();
    const at = `apis[${apiIndex}]`;
    try {
      if (api.spec) {
        const spec = specs.get(api.spec) ?? (await loadSpec(api.spec));
        specs.set(api.spec, spec);
        checkOperationOverrides(api, spec, at, loaded.file);
        for (const operation of spec.operations) {
          const route = compileRoute(config, api, apiIndex, operation.operationId, operation.method, operation.path, operation, services);
          router.add(operation.method, operation.path, route);
          routes.push(route);
        }
      }
      if (api.passthrough && !api.spec) {
        for (const method of PASSTHROUGH_METHODS) {
          const route = compileRoute(config, api, apiIndex, `${api.name}:passthrough`, method, '*', undefined, services);
          router.add(method, '*', route);
          routes.push(route);
        }
      }
    } catch (error) {
      if (error instanceof ConfigError || error instanceof SpecError) throw error;
      throw new ConfigError(loaded.file, [{ path: at, message: (error as Error).message }]);
    }
    apis.push({ api, prefix: api.base_path, router });
  }
  return new RouteTable(loaded, apis, routes, specs);
}

function compileRoute(
  config: RampartConfig,
  api: ApiConfig,
  apiIndex: number,
  operationId: string,
  method: string,
  template: string,
  operation: SpecOperation | undefined,
  services: Services,
): CompiledRoute {
  const override = api.operations[operationId];
  const maxBodyBytes = override?.max_body_bytes ?? api.max_body_bytes;
  const declaredTypes = operation?.requestBody ? Object.keys(operation.requestBody.content ?? {}) : [];
  const types = override?.content_types ?? api.content_types ?? (operation ? declaredTypes : PASSTHROUGH_TYPES);
  const contentTypes = new Set(types.map((t) => t.toLowerCase()));
  const input: PolicyBuildInput = { config, api, apiIndex, operationId, method, operation, maxBodyBytes, contentTypes, services };
  const request: RequestPolicy[] = [];
  const response: ResponsePolicy[] = [];
  for (const factory of POLICY_FACTORIES) {
    const req = factory.request?.(input);
    if (req) request.push(...(Array.isArray(req) ? req : [req as RequestPolicy]));
    const res = factory.response?.(input);
    if (res) response.push(...(Array.isArray(res) ? res : [res as ResponsePolicy]));
  }
  const corsConfig = override?.cors ?? api.cors;
  const upstream = config.upstreams[api.upstream]!;
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
    cors: corsConfig ? createCorsPolicy(corsConfig, [method]) : undefined,
    policies: Object.freeze(orderPolicies(request)),
    responsePolicies: Object.freeze(response),
    buffersResponse: response.some((p) => p.needsBody),
  });
}

function checkOperationOverrides(api: ApiConfig, spec: LoadedSpec, at: string, file: string): void {
  const known = new Set(spec.operations.map((o) => o.operationId));
  // A rule keyed by an unknown operationId would silently protect nothing: refuse it like an unknown override.
  const unknown = (['operations', 'rules', 'owner_rules'] as const).flatMap((key) =>
    Object.keys(api[key] ?? {}).filter((id) => !known.has(id)).map((id) => `${key}.${id}`),
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      file,
      unknown.map((key) => ({ path: `${at}.${key}`, message: `no operation "${key.slice(key.indexOf('.') + 1)}" in ${spec.file}`, hint: 'use an operationId from the spec' })),
    );
  }
}

function buildBlockList(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}
