/**
 * Derives validation schemas from OpenAPI schema objects. The spec's schemas are never modified: each derivation
 * is a copy. Request copies are strict (undeclared properties refused, `readOnly` refused, default caps where the
 * spec sets none); response copies drop `writeOnly` properties and mark sensitive fields. OpenAPI 3.0 `nullable`
 * and boolean `exclusiveMinimum`/`exclusiveMaximum` are translated to JSON Schema 2020-12.
 */

export type JsonSchema = Record<string, unknown> | boolean;

export interface RequestSchemaOptions {
  readonly additionalProperties: 'reject' | 'allow';
  readonly readOnly: 'reject' | 'allow';
  readonly maxStringLength: number;
  readonly maxArrayItems: number;
}

export interface ResponseSchemaOptions {
  /** Property name → action, applied wherever the name appears (in addition to `x-rampart-sensitive`). */
  readonly sensitive: Readonly<Record<string, 'mask' | 'drop'>>;
}

/** Keyword (always failing) that replaces a read-only property's schema in requests, so errors can say why. */
export const READ_ONLY_MARK = 'x-rampart-read-only';

const COMPOSITION = ['allOf', 'anyOf', 'oneOf'] as const;
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'] as const;
const SUBSCHEMA_SINGLE = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'additionalItems'] as const;

/** Thrown for schemas that cannot be compiled into a validator (e.g. recursive schemas). */
export class SchemaDeriveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaDeriveError';
  }
}

interface Walk {
  readonly mode: 'request' | 'response';
  readonly request?: RequestSchemaOptions;
  readonly response?: ResponseSchemaOptions;
  readonly stack: Set<object>;
}

/** A strict copy of `schema` for validating request bodies and parameters. Throws SchemaDeriveError on cycles. */
export function deriveRequestSchema(schema: unknown, options: RequestSchemaOptions): JsonSchema {
  return derive(schema, { mode: 'request', request: options, stack: new Set() }, false);
}

/** A copy of `schema` for response minimisation. Throws SchemaDeriveError on cycles. */
export function deriveResponseSchema(schema: unknown, options: ResponseSchemaOptions): JsonSchema {
  return derive(schema, { mode: 'response', response: options, stack: new Set() }, false);
}

function derive(schema: unknown, walk: Walk, inComposition: boolean): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return {};
  if (walk.stack.has(schema)) throw new SchemaDeriveError('recursive schemas are not supported for validation');
  walk.stack.add(schema);
  try {
    const src = schema as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(src)) {
      if ((SUBSCHEMA_MAPS as readonly string[]).includes(key) && value && typeof value === 'object') {
        const map: Record<string, JsonSchema> = {};
        for (const [name, sub] of Object.entries(value as Record<string, unknown>)) map[name] = derive(sub, walk, false);
        out[key] = map;
      } else if ((COMPOSITION as readonly string[]).includes(key) && Array.isArray(value)) {
        out[key] = value.map((sub) => derive(sub, walk, true));
      } else if (key === 'prefixItems' && Array.isArray(value)) {
        out[key] = value.map((sub) => derive(sub, walk, false));
      } else if ((SUBSCHEMA_SINGLE as readonly string[]).includes(key) && value !== null && typeof value === 'object') {
        out[key] = derive(value, walk, false);
      } else {
        out[key] = value;
      }
    }
    translateOpenApi30(out);
    if (walk.mode === 'request') tightenRequest(out, walk.request!, inComposition);
    else adaptResponse(out, walk.response!, inComposition);
    return out;
  } finally {
    walk.stack.delete(schema);
  }
}

function typesOf(schema: Record<string, unknown>): string[] {
  const type = schema['type'];
  if (typeof type === 'string') return [type];
  if (Array.isArray(type)) return type.filter((t): t is string => typeof t === 'string');
  return [];
}

function isObjectSchema(schema: Record<string, unknown>): boolean {
  const types = typesOf(schema);
  return types.includes('object') || (types.length === 0 && (schema['properties'] !== undefined || schema['required'] !== undefined));
}

/**
 * OpenAPI 3.0 dialect → JSON Schema 2020-12: boolean `exclusiveMinimum`/`exclusiveMaximum` (modifiers of
 * `minimum`/`maximum`) become the numeric form, and `nullable: true` adds `null` to the type (and enum).
 */
function translateOpenApi30(schema: Record<string, unknown>): void {
  for (const [exclusive, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof schema[exclusive] !== 'boolean') continue;
    if (schema[exclusive] === true && typeof schema[bound] === 'number') {
      schema[exclusive] = schema[bound];
      delete schema[bound];
    } else {
      delete schema[exclusive];
    }
  }
  if (schema['nullable'] !== true) return;
  const types = typesOf(schema);
  if (types.length > 0 && !types.includes('null')) schema['type'] = [...types, 'null'];
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(null)) schema['enum'] = [...(schema['enum'] as unknown[]), null];
}

function tightenRequest(schema: Record<string, unknown>, options: RequestSchemaOptions, inComposition: boolean): void {
  const types = typesOf(schema);
  const properties = schema['properties'] as Record<string, JsonSchema> | undefined;
  if (properties && options.readOnly === 'reject') {
    const readOnly = Object.entries(properties).filter(([, sub]) => typeof sub === 'object' && sub['readOnly'] === true).map(([name]) => name);
    for (const name of readOnly) properties[name] = { [READ_ONLY_MARK]: true };
    if (readOnly.length > 0 && Array.isArray(schema['required'])) {
      schema['required'] = (schema['required'] as string[]).filter((name) => !readOnly.includes(name));
    }
  }
  // Composition branches are left open: the schema that composes them closes the object (unevaluatedProperties
  // sees properties evaluated by every branch), so `allOf: [A, B]` does not refuse B's properties inside A.
  if (
    options.additionalProperties === 'reject' &&
    !inComposition &&
    isObjectSchema(schema) &&
    // A bare `type: object` (no properties) is the spec saying "any object": closing it would refuse everything.
    properties !== undefined &&
    schema['additionalProperties'] === undefined &&
    schema['unevaluatedProperties'] === undefined &&
    schema['patternProperties'] === undefined
  ) {
    schema['unevaluatedProperties'] = false;
  } else if (options.additionalProperties === 'reject' && !inComposition && types.length === 0 && COMPOSITION.some((k) => schema[k] !== undefined) && schema['unevaluatedProperties'] === undefined) {
    schema['unevaluatedProperties'] = false;
  }
  if (types.includes('string') && schema['maxLength'] === undefined && schema['enum'] === undefined && schema['const'] === undefined) {
    schema['maxLength'] = options.maxStringLength;
  }
  if (types.includes('array') && schema['maxItems'] === undefined) schema['maxItems'] = options.maxArrayItems;
}

function adaptResponse(schema: Record<string, unknown>, options: ResponseSchemaOptions, inComposition: boolean): void {
  const properties = schema['properties'] as Record<string, JsonSchema> | undefined;
  if (properties) {
    const removed: string[] = [];
    for (const [name, sub] of Object.entries(properties)) {
      if (typeof sub !== 'object') continue;
      if (sub['writeOnly'] === true) {
        delete properties[name];
        removed.push(name);
        continue;
      }
      const action = options.sensitive[name];
      if (action !== undefined) sub['x-rampart-sensitive'] = action;
    }
    if (removed.length > 0 && Array.isArray(schema['required'])) {
      schema['required'] = (schema['required'] as string[]).filter((name) => !removed.includes(name));
    }
  }
  // Closed objects make Ajv's removeAdditional strip what the contract does not declare (excessive data exposure).
  if (!inComposition && isObjectSchema(schema) && properties && schema['additionalProperties'] === undefined && COMPOSITION.every((k) => schema[k] === undefined)) {
    schema['additionalProperties'] = false;
  }
}
