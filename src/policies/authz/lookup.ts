import { ConfigIssueError } from '../../config/errors.ts';
import type { ValidateFunction } from 'ajv';
import type { Dispatcher } from 'undici';
import type { OwnerLookupConfig } from '../../config/types.ts';
import { createOpenApiAjv } from '../../openapi/ajv.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import type { Identity, RequestContext, PolicyBuildInput } from '../../pipeline/types.ts';
import { GatewayError, type ErrorCode } from '../../problem.ts';
import { upstreamError } from '../../proxy/forward.ts';
import { upstreamRequestHeaders } from '../../proxy/headers.ts';
import { upstreamCredentialOf } from '../upstream-credential/index.ts';
import { ExpiringLru } from '../authn-introspection/cache.ts';
import type { ParsedBody } from '../validate/body.ts';
import { parseJsonSafely } from '../validate/json.ts';
import { compileRule, type CompiledRule } from './cel.ts';
import { OWNER_LOOKUP_DEFAULTS, ownerLookupSchema } from './schema.ts';
import { identityVariable, requestVariable } from './variables.ts';

/** Most looked-up objects kept per operation (least recently used dropped first). */
export const LOOKUP_CACHE_MAX_ENTRIES = 1000;
/** Largest lookup response body read, in bytes: a referenced object, not a list; larger answers deny (502). */
export const LOOKUP_MAX_BODY_BYTES = 64 * 1024;
/** Longest referenced id sent upstream, in characters; longer ids deny like a missing object. */
const MAX_ID_LENGTH = 1024;
/** Upstream statuses that mean "this caller cannot see that object": deny with the ownership status, not 502. */
const NOT_VISIBLE = new Set([401, 403, 404, 410]);
/** Client headers that carry the caller's credential; the lookup sends only these (and Rampart's own headers). */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie'] as const;

/** A compiled referenced-object ownership check of one operation. */
export interface OwnerLookup {
  /** Config path or spec extension it came from, for errors, logs and `rampart check`. */
  readonly origin: string;
  readonly from: string;
  readonly operationId: string;
  readonly param: string;
  readonly rule: CompiledRule;
  readonly denyCode: ErrorCode;
  /** Whether the request body must be parsed first (`from` or `rule` reads it). */
  readonly readsBody: boolean;
  /**
   * Resolves when the referenced object may be used by the caller; rejects with a GatewayError otherwise: the
   * ownership code (404 by default) when the object is missing, not visible to the caller or fails the rule, and
   * 502/504 when the lookup itself fails. A request that references nothing (the field is absent) passes: the
   * validate stage decides whether the field is required.
   */
  check(ctx: RequestContext, body: ParsedBody | undefined): Promise<void>;
}

export interface OwnerLookupOptions {
  /** Clock in ms since the epoch, for the cache (default Date.now). */
  readonly now?: () => number;
}

type Reference = { readonly kind: 'absent' } | { readonly kind: 'invalid'; readonly why: string } | { readonly kind: 'id'; readonly id: string };
type Looked = { readonly visible: true; readonly object: unknown } | { readonly visible: false; readonly status: number };

const specAjv = createOpenApiAjv();
const validateSpecLookup = specAjv.compile(ownerLookupSchema);
const paramAjv = createOpenApiAjv({ coerce: true });

/**
 * Reads an owner lookup from config (validated and defaulted by the config schema) or from the spec extension
 * `x-rampart-owner-lookup` (checked against the same schema here, defaults applied).
 * @throws ConfigIssueError naming `at` when the spec extension does not fit the schema.
 */
export function ownerLookupConfig(raw: unknown, at: string, fromSpec: boolean): OwnerLookupConfig {
  if (!fromSpec) return raw as OwnerLookupConfig;
  if (!validateSpecLookup(raw)) {
    const error = validateSpecLookup.errors?.[0];
    throw new ConfigIssueError(`${at}${error?.instancePath ? error.instancePath.replaceAll('/', '.') : ''}`, error?.message ?? 'invalid');
  }
  return { ...OWNER_LOOKUP_DEFAULTS, ...(raw as Partial<OwnerLookupConfig>) } as OwnerLookupConfig;
}

/**
 * Compiles an owner lookup at start: resolves `operation` in the API's spec (a GET with `param` as its only path
 * parameter), compiles the id check from that parameter's schema and the CEL rule over `object`. Per request the
 * referenced id is read from the request, the object fetched from the route's upstream with the caller's own
 * credential headers and Rampart's identity assertion (so the upstream's own checks apply), with a timeout, no
 * redirects, and a bounded per-identity cache of `cache_seconds`.
 * @throws ConfigIssueError naming `at` (e.g. `apis[0].operations.createOrder.owner_lookup.operation`) on any mistake.
 */
export function compileOwnerLookup(config: OwnerLookupConfig, at: string, input: PolicyBuildInput, options: OwnerLookupOptions = {}): OwnerLookup {
  const spec = input.spec;
  if (!spec) throw new ConfigIssueError(at, `an owner lookup needs the API's OpenAPI spec`);
  const target = spec.operations.find((o) => o.operationId === config.operation);
  if (!target) throw new ConfigIssueError(`${at}.operation`, `no operation "${config.operation}" in ${spec.file}`);
  if (target.method !== 'GET') throw new ConfigIssueError(`${at}.operation`, `"${config.operation}" is ${target.method}; a lookup must be a GET operation`);
  const pathParams = [...target.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const param = config.param ?? (pathParams.length === 1 ? pathParams[0]! : undefined);
  if (param === undefined) throw new ConfigIssueError(`${at}.param`, `"${config.operation}" has ${pathParams.length} path parameters; name the one the id fills`);
  if (!pathParams.includes(param)) throw new ConfigIssueError(`${at}.param`, `"${config.operation}" has no path parameter "${param}"`);
  if (pathParams.length > 1) throw new ConfigIssueError(`${at}.operation`, `"${config.operation}" has other path parameters than "${param}", which a lookup cannot fill`);
  const readReference = compileReference(config.from, `${at}.from`, input.operation);
  const validateId = compileIdCheck(target, param, at);
  const rule = compileRule(config.rule, `${at}.rule`, 'lookup');
  const denyCode: ErrorCode = config.deny_status === 403 ? 'forbidden' : 'not_found';
  const [before, after] = splitTemplate(target.path, param);
  const upstreamName = input.api.upstream;
  const upstream = input.config.upstreams[upstreamName];
  const identityConfig = input.config.identity;
  // With a minted upstream credential, the lookup sends it too: never the client's own (possibly forged) one.
  const minted = upstreamCredentialOf(input);
  const { services } = input;
  const now = options.now ?? Date.now;
  const ttlMs = config.cache_seconds * 1000;
  const cache = new ExpiringLru<Looked>(LOOKUP_CACHE_MAX_ENTRIES, now);
  const inFlight = new Map<string, Promise<Looked>>();
  const origin = at;
  const name = `owner lookup ${config.operation} (${origin})`;

  const fetchObject = async (ctx: RequestContext, id: string): Promise<Looked> => {
    const pools = services.upstreams;
    if (!pools || !upstream) throw new GatewayError('service_unavailable', `${name}: no upstream pool to call`);
    const pool = pools.get(upstreamName, upstream);
    const identityHeaders = ctx.identity && services.identity ? await services.identity.headersFor(ctx, upstreamName, identityConfig) : undefined;
    const credentials: Record<string, string | string[]> = {};
    for (const header of CREDENTIAL_HEADERS) {
      const value = ctx.headers[header];
      if (value !== undefined && !minted?.strip.has(header)) credentials[header] = value;
    }
    const mintedHeaders = minted && ctx.identity ? await minted.headersFor(ctx.identity) : undefined;
    const headers = upstreamRequestHeaders(
      credentials,
      { requestId: ctx.id, clientIp: ctx.clientIp, proto: ctx.secure ? 'https' : 'http', host: undefined, priorForwardedFor: undefined },
      { accept: 'application/json', ...identityHeaders, ...mintedHeaders },
    );
    const signal = AbortSignal.timeout(config.timeout_ms);
    let response: Dispatcher.ResponseData;
    try {
      // undici's Pool never follows redirects: a 3xx is an answer like any other (and denies below).
      response = await pool.request({
        path: before + encodeURIComponent(id) + after,
        method: 'GET',
        headers,
        signal,
        headersTimeout: config.timeout_ms,
        bodyTimeout: config.timeout_ms,
      });
    } catch (error) {
      throw lookupError(error, signal, name);
    }
    const status = response.statusCode;
    if (NOT_VISIBLE.has(status)) {
      await response.body.dump().catch(() => undefined);
      return { visible: false, status };
    }
    if (status < 200 || status > 299) {
      await response.body.dump().catch(() => undefined);
      throw new GatewayError('upstream_unavailable', `${name}: upstream answered ${status}`);
    }
    let text: string;
    try {
      text = await readLimited(response.body, LOOKUP_MAX_BODY_BYTES);
    } catch (error) {
      throw error instanceof GatewayError ? error : lookupError(error, signal, name);
    }
    // Bounds a 64 KiB document cannot exceed by much; duplicate keys are refused (which one would the rule see?).
    const parsed = parseJsonSafely(text, { maxDepth: 64, maxObjectKeys: 4096, maxTokens: LOOKUP_MAX_BODY_BYTES, rejectDuplicates: true, pointerBase: 'lookup' });
    if (!parsed.ok) throw new GatewayError('upstream_invalid_response', `${name}: ${parsed.reason}`);
    return { visible: true, object: parsed.value };
  };

  const lookup = (ctx: RequestContext, id: string): Promise<Looked> => {
    const key = cacheKey(ctx.identity, id);
    const cached = ttlMs > 0 ? cache.get(key) : undefined;
    if (cached) return Promise.resolve(cached);
    let pending = inFlight.get(key);
    if (!pending) {
      pending = fetchObject(ctx, id)
        .then((looked) => {
          if (ttlMs > 0) cache.set(key, looked, now() + ttlMs);
          return looked;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };

  return {
    origin,
    from: config.from,
    operationId: config.operation,
    param,
    rule,
    denyCode,
    readsBody: config.from.startsWith('body.') || rule.readsBody,
    async check(ctx, body) {
      const reference = readReference(ctx, body);
      if (reference.kind === 'absent') return;
      if (reference.kind === 'invalid') throw new GatewayError(denyCode, `${name} denied: ${reference.why}`);
      if (!validateId(reference.id)) throw new GatewayError(denyCode, `${name} denied: the id does not fit the ${param} parameter`);
      const looked = await lookup(ctx, reference.id);
      if (!looked.visible) throw new GatewayError(denyCode, `${name} denied: upstream answered ${looked.status}`);
      const value = body === undefined || body.kind === 'raw' ? undefined : body.value;
      const result = rule.evaluate({ request: requestVariable(ctx, value), identity: identityVariable(ctx.identity), now: new Date(), object: looked.object });
      if (!result.allowed) throw new GatewayError(denyCode, `${name} denied by ${rule.origin}${result.error ? ` (${result.error})` : ''}`);
    },
  };
}

/** Compiles `from` into a reader; checks at start that the path parameter exists or that the operation takes a body. */
function compileReference(from: string, at: string, operation: SpecOperation | undefined): (ctx: RequestContext, body: ParsedBody | undefined) => Reference {
  const [source, ...segments] = from.split('.');
  if (source === 'params' || source === 'query') {
    const name = segments.join('.');
    if (source === 'params') {
      if (operation && !operation.path.includes(`{${name}}`)) throw new ConfigIssueError(at, `operation ${operation.operationId} has no path parameter "${name}"`);
      return (ctx) => toReference(ctx.params[name]);
    }
    return (ctx) => {
      const all = ctx.query.getAll(name);
      return all.length > 1 ? { kind: 'invalid', why: `query parameter ${name} repeated` } : toReference(all[0]);
    };
  }
  if (source !== 'body' || segments.length === 0) throw new ConfigIssueError(at, 'must start with body., params. or query.');
  if (operation && !operation.requestBody) throw new ConfigIssueError(at, `operation ${operation.operationId} declares no request body`);
  return (_ctx, body) => {
    if (body === undefined) return { kind: 'absent' };
    if (body.kind === 'raw') return { kind: 'invalid', why: `a ${body.mediaType} body cannot be read` };
    let value: unknown = body.value;
    for (const segment of segments) {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) return { kind: 'absent' };
      value = (value as Record<string, unknown>)[segment];
    }
    return toReference(value);
  };
}

function toReference(value: unknown): Reference {
  if (value === undefined) return { kind: 'absent' };
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { kind: 'id', id: String(value) };
  if (typeof value !== 'string') return { kind: 'invalid', why: `the id is a ${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value}` };
  if (value === '' || value.length > MAX_ID_LENGTH) return { kind: 'invalid', why: 'the id is empty or too long' };
  return { kind: 'id', id: value };
}

/** A validator of the id against the lookup parameter's schema (as a path parameter: strings coerced). */
function compileIdCheck(target: SpecOperation, param: string, at: string): ValidateFunction | ((id: string) => boolean) {
  const schema = target.parameters.find((p) => p.in === 'path' && p.name === param)?.schema;
  if (schema === undefined) return () => true;
  try {
    return paramAjv.compile(schema as object);
  } catch (error) {
    throw new ConfigIssueError(`${at}.param`, `the schema of "${param}" in ${target.operationId} does not compile: ${(error as Error).message}`, undefined, { cause: error });
  }
}

/** The lookup path around the parameter: the template's other text is sent as written (it is the spec's). */
function splitTemplate(path: string, param: string): [string, string] {
  const marker = `{${param}}`;
  const index = path.indexOf(marker);
  return [path.slice(0, index), path.slice(index + marker.length)];
}

/**
 * Who is asking, as far as the upstream's answer can depend on it: subject, tenant, consumer, method, key id and
 * scopes (two credentials of one subject with different scopes may see different objects). Never a credential.
 */
function cacheKey(identity: Identity | undefined, id: string): string {
  if (!identity) return JSON.stringify(['anonymous', id]);
  return JSON.stringify([identity.method, identity.subject, identity.tenant ?? null, identity.consumer ?? null, identity.keyId ?? null, [...identity.scopes].sort().join(' '), id]);
}

function lookupError(error: unknown, signal: AbortSignal, name: string): GatewayError {
  if (signal.aborted) return new GatewayError('upstream_timeout', `${name}: timed out`, { cause: error });
  const mapped = upstreamError(error);
  return new GatewayError(mapped.code, `${name}: ${mapped.message}`, { cause: error });
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new GatewayError('upstream_invalid_response', `owner lookup answer over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
