import type { ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { ApiConfig } from '../../config/types.ts';
import { GatewayError, type ProblemFieldError } from '../../problem.ts';
import type { RequestContext, RequestPolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { createOpenApiAjv } from '../../openapi/ajv.ts';
import type { ParameterObject } from '../../openapi/load.ts';
import { canonicalNumerals, paramSpec, parseCookies, parseQuery, parseSimpleValue, type ParamLocation, type ParamSpec } from '../../openapi/params.ts';
import { deriveRequestSchema, READ_ONLY_MARK, type RequestSchemaOptions } from '../../openapi/schemas.ts';
import { parsedBody, type BodyParseLimits } from './body.ts';
import { isJsonMediaType } from '../../http/media.ts';
import { toFieldErrors } from './errors.ts';
import { parseJsonSafely } from './json.ts';

interface ApiValidators {
  /** Coercing instance for string-valued inputs: parameters, form fields. */
  readonly params: Ajv2020;
  /** Non-coercing instance for JSON bodies. */
  readonly json: Ajv2020;
}

const perApi = new WeakMap<ApiConfig, ApiValidators>();

/** One Ajv pair per API config (a reload builds new ones with the new config object). */
function validatorsFor(api: ApiConfig): ApiValidators {
  let entry = perApi.get(api);
  if (!entry) {
    const params = createOpenApiAjv({ coerce: true, extraKeywords: [READ_ONLY_MARK] });
    const json = createOpenApiAjv({ extraKeywords: [READ_ONLY_MARK] });
    for (const ajv of [params, json]) ajv.addKeyword({ keyword: READ_ONLY_MARK, schemaType: 'boolean', validate: () => false, errors: false });
    entry = { params, json };
    perApi.set(api, entry);
  }
  return entry;
}

/** Options of the body/parameter validation taken from `apis[].validation` (shared with the authorize stage). */
export function bodyLimitsFor(api: ApiConfig, maxBodyBytes: number): BodyParseLimits {
  const v = api.validation;
  return {
    maxBodyBytes,
    maxDepth: v.max_depth,
    maxObjectKeys: v.max_object_keys,
    maxTokens: v.max_json_tokens,
    maxPartBytes: v.max_part_bytes,
    maxParts: v.max_parts,
    rejectDuplicateKeys: true,
  };
}

interface LocationValidator {
  readonly location: ParamLocation;
  readonly specs: readonly ParamSpec[];
  readonly validate: ValidateFunction;
}

interface BodyValidator {
  readonly kind: 'json' | 'form';
  readonly validate: ValidateFunction | undefined;
  /** Form fields whose schema is numeric: only canonical numerals are accepted (as for parameters). */
  readonly numeric: readonly ParamSpec[];
}

/**
 * The validate stage for one operation: path, query, header and cookie parameters and the body (per media type)
 * against Ajv validators compiled here, once, from strict copies of the spec's schemas (see openapi/schemas.ts).
 * Undeclared query parameters are refused unless `validation.additional_properties` is `allow`. Failures throw a
 * 400 `validation_failed` GatewayError listing fields without echoing values. Returns undefined for passthrough
 * routes (no contract). Throws an Error naming the operation when a schema cannot be compiled.
 */
export function createValidatePolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const { operation, api } = input;
  if (!operation) return undefined;
  const ajv = validatorsFor(api);
  const v = api.validation;
  const options: RequestSchemaOptions = {
    additionalProperties: v.additional_properties,
    readOnly: v.readonly_in_requests,
    maxStringLength: v.max_string_length,
    maxArrayItems: v.max_array_items,
  };
  const where = `operation ${operation.operationId}`;
  const compile = (instance: Ajv2020, schema: unknown, what: string): ValidateFunction => {
    try {
      return instance.compile(deriveRequestSchema(schema, options) as object);
    } catch (error) {
      throw new Error(`${where}: cannot compile the schema of ${what}: ${(error as Error).message}`, { cause: error });
    }
  };

  const locations: LocationValidator[] = [];
  const byLocation = new Map<ParamLocation, ParameterObject[]>();
  for (const param of operation.parameters) {
    const location = param.in as ParamLocation;
    if (!['path', 'query', 'header', 'cookie'].includes(location)) continue;
    byLocation.set(location, [...(byLocation.get(location) ?? []), param]);
  }
  for (const [location, params] of byLocation) {
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const param of params) {
      const key = location === 'header' ? param.name.toLowerCase() : param.name;
      const contentSchema = param.content ? Object.values(param.content)[0]?.schema : undefined;
      properties[key] = param.schema ?? contentSchema ?? {};
      if (param.required || location === 'path') required.push(key);
    }
    // Closed over declared names: undeclared query keys are reported separately, headers/cookies may carry others.
    const schema = { type: 'object', properties, required, additionalProperties: true };
    locations.push({
      location,
      specs: params.map(paramSpec),
      validate: compile(ajv.params, schema, `${location} parameters`),
    });
  }
  const rejectUndeclaredQuery = v.additional_properties === 'reject';
  const query = locations.find((l) => l.location === 'query');

  const bodies = new Map<string, BodyValidator>();
  for (const [mediaType, content] of Object.entries(operation.requestBody?.content ?? {})) {
    const type = mediaType.toLowerCase();
    if (isJsonMediaType(type) || type.endsWith('/*')) {
      bodies.set(type, { kind: 'json', validate: content.schema ? compile(ajv.json, content.schema, `the ${type} body`) : undefined, numeric: [] });
    } else if (type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') {
      const fields = Object.entries(((content.schema as { properties?: Record<string, unknown> } | undefined)?.properties) ?? {});
      const numeric = fields.map(([name, schema]) => paramSpec({ name, in: 'query', schema } as ParameterObject)).filter((spec) => spec.numeric !== undefined);
      bodies.set(type, { kind: 'form', validate: content.schema ? compile(ajv.params, content.schema, `the ${type} body`) : undefined, numeric });
    }
  }
  const bodyRequired = operation.requestBody?.required === true;
  const limits = bodyLimitsFor(api, input.maxBodyBytes);
  const expectsBody = operation.requestBody !== undefined;

  const checkParameters = (ctx: RequestContext): void => {
    for (const entry of locations) {
      const values = collect(ctx, entry, limits);
      if (values instanceof GatewayError) throw values;
      if (!entry.validate(values)) {
        throw new GatewayError('validation_failed', `${entry.location} parameters do not match the contract`, { errors: toFieldErrors(entry.location, entry.validate.errors) });
      }
    }
    if (rejectUndeclaredQuery && ctx.rawQuery !== '') {
      const undeclared = query ? parseQuery(query.specs, ctx.query).undeclared : [...new Set(ctx.query.keys())];
      if (undeclared.length > 0) {
        const errors: ProblemFieldError[] = toFieldErrors('query', [{ keyword: 'additionalProperties', instancePath: '', schemaPath: '', params: { additionalProperty: undeclared[0] } }]);
        throw new GatewayError('validation_failed', `undeclared query parameters (${undeclared.length})`, { errors });
      }
    }
  };

  const checkBody = async (ctx: RequestContext): Promise<void> => {
    const body = await parsedBody(ctx, limits);
    if (!body) {
      if (bodyRequired) throw new GatewayError('validation_failed', 'required body missing', { errors: [{ pointer: 'body', message: 'is required' }] });
      return;
    }
    const validator = bodies.get(body.mediaType) ?? bodies.get(`${body.mediaType.split('/')[0]}/*`) ?? bodies.get('*/*');
    if (!validator?.validate) return;
    if (body.kind === 'raw' || (validator.kind === 'json') !== (body.kind === 'json')) {
      throw new GatewayError('validation_failed', `body of type ${body.mediaType} cannot be checked against the contract`, { errors: [{ pointer: 'body', message: 'has an unsupported media type for this operation' }] });
    }
    // Ajv's coercion reads " 5", "0x10" or "1e2" as numbers, which the upstream may parse differently.
    const fields = body.value as Record<string, unknown>;
    for (const spec of validator.numeric) if (fields[spec.name] !== undefined) fields[spec.name] = canonicalNumerals(spec, fields[spec.name]);
    // Form values are coerced in place by Ajv; JSON values are only read. The upstream gets the original bytes.
    if (!validator.validate(body.value)) {
      throw new GatewayError('validation_failed', 'body does not match the contract', { errors: toFieldErrors('body', validator.validate.errors) });
    }
  };

  return {
    name: 'validate',
    stage: 'validate',
    run(ctx: RequestContext): void | Promise<void> {
      checkParameters(ctx);
      if (ctx.hasBody || (bodyRequired && expectsBody)) return checkBody(ctx);
    },
  };
}

/** Raw inputs of one location → the object its validator checks. Returns a GatewayError for malformed JSON content. */
function collect(ctx: RequestContext, entry: LocationValidator, limits: BodyParseLimits): Record<string, unknown> | GatewayError {
  const values: Record<string, unknown> = {};
  if (entry.location === 'query') {
    Object.assign(values, parseQuery(entry.specs, ctx.query).values);
  } else {
    const cookies = entry.location === 'cookie' ? parseCookies(ctx.headers['cookie']) : undefined;
    for (const spec of entry.specs) {
      let raw: string | undefined;
      if (entry.location === 'path') raw = ctx.params[spec.name];
      else if (entry.location === 'header') {
        const header = ctx.headers[spec.name.toLowerCase()];
        raw = Array.isArray(header) ? header.join(', ') : header;
      } else {
        const cookie = cookies!.get(spec.name);
        // A repeated cookie stays a list, so the schema's scalar type rejects it (cookie pollution).
        if (Array.isArray(cookie)) {
          values[spec.name] = cookie;
          continue;
        }
        raw = cookie;
      }
      if (raw === undefined) continue;
      values[entry.location === 'header' ? spec.name.toLowerCase() : spec.name] = spec.jsonContent ? raw : parseSimpleValue(spec, raw);
    }
  }
  for (const spec of entry.specs) {
    const key = entry.location === 'header' ? spec.name.toLowerCase() : spec.name;
    if (values[key] !== undefined) values[key] = canonicalNumerals(spec, values[key]);
    if (!spec.jsonContent || typeof values[key] !== 'string') continue;
    const parsed = parseJsonSafely(values[key], {
      maxDepth: limits.maxDepth,
      maxObjectKeys: limits.maxObjectKeys,
      maxTokens: limits.maxTokens,
      rejectDuplicates: true,
      pointerBase: `${entry.location}/${spec.name}`,
    });
    if (!parsed.ok) return new GatewayError(parsed.code, `${entry.location} parameter: ${parsed.reason}`, { errors: [parsed.error] });
    values[key] = parsed.value;
  }
  return values;
}

