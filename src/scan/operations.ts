/** What the scanner reads from a spec operation: who may call it, its ids, example values and schemas. */
import type { OpenAPIV3 } from 'openapi-types';
import { isJsonMediaType, mediaTypeOf } from '../http/media.ts';
import type { SpecOperation } from '../openapi/load.ts';

export type Schema = OpenAPIV3.SchemaObject & { examples?: unknown[]; const?: unknown };

/** Whether the operation's effective `security` requires a credential (no `{}` alternative, not `[]`). */
export function requiresAuth(op: SpecOperation): boolean {
  return op.security.length > 0 && !op.security.some((req) => Object.keys(req).length === 0);
}

/**
 * The roles an operation is reserved for, or undefined when it is for everyone who may authenticate:
 * `x-rampart-roles`, else `['admin']` when a required scope, a tag or a path segment is `admin`.
 */
export function privilegedRoles(op: SpecOperation): readonly string[] | undefined {
  const roles = op.raw['x-rampart-roles'];
  if (Array.isArray(roles) && roles.length > 0) return roles.map(String);
  const scopes = op.security.flatMap((req) => Object.values(req).flat());
  const tags = Array.isArray(op.raw['tags']) ? (op.raw['tags'] as unknown[]).map(String) : [];
  const adminish = (s: string) => /^admin(\b|:|$)/i.test(s) || /(^|:)admin$/i.test(s);
  if (scopes.some(adminish) || tags.some(adminish) || op.path.split('/').some((seg) => seg.toLowerCase() === 'admin')) return ['admin'];
  return undefined;
}

export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function pathParameters(op: SpecOperation): OpenAPIV3.ParameterObject[] {
  return op.parameters.filter((p) => p.in === 'path');
}

/** The schema of the first JSON 2xx response, if any. */
export function successSchema(op: SpecOperation): Schema | undefined {
  for (const [status, response] of Object.entries(op.responses)) {
    if (!/^2(\d\d|XX)$/i.test(status)) continue;
    for (const [type, media] of Object.entries(response.content ?? {})) {
      const base = mediaTypeOf(type);
      if (base && isJsonMediaType(base) && media.schema) return media.schema as Schema;
    }
  }
  return undefined;
}

/** The JSON request body schema, if the operation takes one. */
export function requestSchema(op: SpecOperation): Schema | undefined {
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
    const base = mediaTypeOf(type);
    if (base && isJsonMediaType(base) && media.schema) return media.schema as Schema;
  }
  return undefined;
}

/** The last static path segment, singular: `/orders/{orderId}` → `order`, `/accounts` → `account`. */
export function resourceName(path: string): string | undefined {
  const statics = path.split('/').filter((s) => s !== '' && !s.startsWith('{'));
  const last = statics.at(-1);
  if (last === undefined) return undefined;
  const lower = last.toLowerCase();
  if (lower.endsWith('ies')) return `${lower.slice(0, -3)}y`;
  if (lower.endsWith('ses')) return lower.slice(0, -2);
  if (lower.endsWith('s') && !lower.endsWith('ss')) return lower.slice(0, -1);
  return lower;
}

/** The id key objects of this operation's resource are filed under: `order` → `orderId`. */
export function resourceKey(path: string): string | undefined {
  const name = resourceName(path);
  return name === undefined ? undefined : `${name}Id`;
}

/** Whether the schema (after `allOf`) describes an object and its properties. */
export function propertiesOf(schema: Schema | undefined): Record<string, Schema> {
  if (!schema) return {};
  const own = (schema.properties ?? {}) as Record<string, Schema>;
  const merged: Record<string, Schema> = { ...own };
  for (const part of (schema.allOf ?? []) as Schema[]) Object.assign(merged, propertiesOf(part));
  return merged;
}

/** The item schema of an array schema. */
export function itemsOf(schema: Schema | undefined): Schema | undefined {
  return schema && schema.type === 'array' ? ((schema as OpenAPIV3.ArraySchemaObject).items as Schema) : undefined;
}

/** An example the schema itself gives (`examples[0]`, `example`, `const`, `default`, `enum[0]`). */
export function exampleOf(schema: Schema | undefined): unknown {
  if (!schema) return undefined;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  return undefined;
}

/**
 * A value that satisfies the schema as far as the scanner can tell without a generator: a known value for the
 * name first (ids of the identity's own objects), then the schema's example, then a type-based default.
 */
export function sampleValue(schema: Schema | undefined, name: string, known: (name: string) => string | undefined, depth = 0): unknown {
  const fromKnown = known(name);
  if (fromKnown !== undefined) return fromKnown;
  const example = exampleOf(schema);
  if (example !== undefined) return example;
  if (!schema || depth > 4) return 'scan';
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : 1;
      return Math.max(min, 1);
    }
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object':
      return sampleObject(schema, known, depth + 1);
    default: {
      if (schema.format === 'email') return 'scan@example.com';
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'date') return new Date().toISOString().slice(0, 10);
      // A reserved name that never resolves (RFC 6761): a sample URL must never make the target call anyone.
      if (schema.format === 'uri' || schema.format === 'url' || schema.format === 'iri') return 'https://rampart-scan.invalid/';
      if (schema.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      const min = schema.minLength ?? 0;
      return 'rampart-scan'.padEnd(min, 'x');
    }
  }
}

/** An object with the required, writable properties of the schema filled in with {@link sampleValue}. */
export function sampleObject(schema: Schema, known: (name: string) => string | undefined, depth = 0): Record<string, unknown> {
  const properties = propertiesOf(schema);
  const required = new Set([...(schema.required ?? []), ...((schema.allOf ?? []) as Schema[]).flatMap((s) => s.required ?? [])]);
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(properties)) {
    if (prop.readOnly || !required.has(name)) continue;
    out[name] = sampleValue(prop, name, known, depth);
  }
  return out;
}

/** The operation's path with its path parameters filled in (values URL-encoded); undefined when one is unknown. */
export function fillPath(op: SpecOperation, value: (param: OpenAPIV3.ParameterObject) => string | undefined): string | undefined {
  let path = op.path;
  for (const param of pathParameters(op)) {
    const v = value(param);
    if (v === undefined) return undefined;
    path = path.replace(`{${param.name}}`, encodeURIComponent(v));
  }
  return path;
}

/** The query string of the operation's required query parameters, from examples; undefined when one has none. */
export function requiredQuery(op: SpecOperation, known: (name: string) => string | undefined): string | undefined {
  const parts: string[] = [];
  for (const param of op.parameters) {
    if (param.in !== 'query' || param.required !== true) continue;
    const v = sampleValue(param.schema as Schema | undefined, param.name, known);
    if (v === undefined || typeof v === 'object') return undefined;
    parts.push(`${encodeURIComponent(param.name)}=${encodeURIComponent(String(v))}`);
  }
  return parts.join('&');
}

const SEARCH_NAME = /(search|query|find|filter|lookup)/i;
const SEARCH_SUMMARY = /\b(search(es|ing)?|quer(y|ies|ying)|finds?|filter(s|ing)?|look(s|ing)? ?up)\b/i;
/** First words of a summary that say the operation writes (a "search" that saves or sends something is a write). */
const WRITE_VERB = /^\s*(create|add|place|save|store|submit|send|post|upload|import|insert|register|book|buy|pay|update|change|set|reset|edit|modify|replace|delete|remove|cancel|archive|schedule)\b/i;

/**
 * Whether a POST operation only searches: its operationId or path (search, query, find, filter, lookup) or its
 * summary (search, query, find, filter, look up) says so, and nothing in the spec says it writes: no 201 or 202
 * answer, no `Location` header, no business flow (`x-rampart-flow`), no summary starting with a write verb
 * ("Save a query …").
 */
export function isSearchOperation(op: SpecOperation): boolean {
  if (op.method !== 'POST') return false;
  const summary = typeof op.raw['summary'] === 'string' ? op.raw['summary'] : '';
  if (!SEARCH_NAME.test(`${op.operationId} ${op.path}`) && !SEARCH_SUMMARY.test(summary)) return false;
  return !writes(op, summary);
}

function writes(op: SpecOperation, summary: string): boolean {
  if (op.raw['x-rampart-flow'] !== undefined && op.raw['x-rampart-flow'] !== false) return true;
  if (WRITE_VERB.test(summary)) return true;
  return Object.entries(op.responses).some(([status, response]) => status === '201' || status === '202' || Object.keys(response.headers ?? {}).some((h) => h.toLowerCase() === 'location'));
}
