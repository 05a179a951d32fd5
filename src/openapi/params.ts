import type { ParameterObject } from './load.ts';
import { isJsonMediaType } from '../http/media.ts';

/**
 * Turns raw parameter strings into the values their schemas describe, per OpenAPI `style`/`explode`
 * (https://spec.openapis.org/oas/v3.1.0#style-values). Types are coerced later by Ajv; these helpers only split
 * and group. Supported: path `simple`, `label`, `matrix`; query `form` (exploded or not), `spaceDelimited`,
 * `pipeDelimited`, `deepObject`; header `simple`; cookie `form`.
 */

export type ParamLocation = 'path' | 'query' | 'header' | 'cookie';

/** The shape a parameter's schema asks for, decided once at compile time. */
export type ParamShape = 'scalar' | 'array' | 'object';

/** A parameter prepared at compile time for parsing. */
export interface ParamSpec {
  readonly name: string;
  readonly in: ParamLocation;
  readonly style: string;
  readonly explode: boolean;
  readonly shape: ParamShape;
  /** Property names of an object-shaped parameter (exploded form objects read these query keys). */
  readonly propertyNames: readonly string[];
  /** The parameter uses `content` with a JSON media type instead of `schema`. */
  readonly jsonContent: boolean;
  /** `integer`/`number` when the value (or each array item) must be numeric: only canonical numerals are accepted. */
  readonly numeric: 'integer' | 'number' | undefined;
}

const INTEGER = /^-?(0|[1-9][0-9]*)$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/**
 * Ajv's type coercion reads `" 5"`, `"0x10"` or `"1e2"` as numbers, which an upstream may parse differently (type
 * confusion). Non-canonical numerals are replaced by a value no numeric schema accepts, so Ajv reports a type error.
 */
export function canonicalNumerals(spec: ParamSpec, value: unknown): unknown {
  if (spec.numeric === undefined) return value;
  const pattern = spec.numeric === 'integer' ? INTEGER : NUMBER;
  const check = (v: unknown): unknown => (typeof v === 'string' && !pattern.test(v) ? { invalid: true } : v);
  return Array.isArray(value) ? value.map(check) : check(value);
}

function numericOf(schema: Record<string, unknown> | undefined): 'integer' | 'number' | undefined {
  const type = schema?.['type'];
  const types = Array.isArray(type) ? (type as string[]) : typeof type === 'string' ? [type] : [];
  if (types.includes('string')) return undefined;
  if (types.includes('number')) return 'number';
  return types.includes('integer') ? 'integer' : undefined;
}

const DEFAULT_STYLE: Record<ParamLocation, string> = { path: 'simple', query: 'form', header: 'simple', cookie: 'form' };

/** Prepares a parameter object for parsing: default style/explode, shape of its schema. */
export function paramSpec(param: ParameterObject): ParamSpec {
  const location = param.in as ParamLocation;
  const style = param.style ?? DEFAULT_STYLE[location];
  const schema = (param.schema ?? {}) as Record<string, unknown>;
  const type = schema['type'];
  const types = Array.isArray(type) ? (type as string[]) : typeof type === 'string' ? [type] : [];
  const shape: ParamShape = types.includes('array') ? 'array' : types.includes('object') || schema['properties'] !== undefined ? 'object' : 'scalar';
  const content = param.content ? Object.keys(param.content) : [];
  return {
    name: param.name,
    in: location,
    style,
    explode: param.explode ?? style === 'form',
    shape,
    propertyNames: Object.keys((schema['properties'] as Record<string, unknown> | undefined) ?? {}),
    jsonContent: content.some((t) => isJsonMediaType(t.toLowerCase())),
    numeric: numericOf(shape === 'array' ? (schema['items'] as Record<string, unknown> | undefined) : shape === 'scalar' ? schema : undefined),
  };
}

const DELIMITER: Record<string, string> = { form: ',', simple: ',', spaceDelimited: ' ', pipeDelimited: '|', label: '.', matrix: ',' };

/** Splits a delimited list; an empty string is an empty list. */
function split(raw: string, delimiter: string): string[] {
  return raw === '' ? [] : raw.split(delimiter);
}

/** `k1,v1,k2,v2` → `{k1: v1, k2: v2}` (non-exploded objects); `k1=v1,k2=v2` for exploded simple objects. */
function pairs(parts: readonly string[], exploded: boolean): Record<string, string> | undefined {
  // Keys are the client's: without a prototype, `__proto__` is an own property the schema sees (and refuses).
  const out = Object.create(null) as Record<string, string>;
  if (exploded) {
    for (const part of parts) {
      const eq = part.indexOf('=');
      if (eq <= 0) return undefined;
      out[part.slice(0, eq)] = part.slice(eq + 1);
    }
    return out;
  }
  if (parts.length % 2 !== 0) return undefined;
  for (let i = 0; i < parts.length; i += 2) out[parts[i]!] = parts[i + 1]!;
  return out;
}

/**
 * Value of a path, header or cookie parameter from its raw (already percent-decoded) string. `undefined` when the
 * raw form does not fit the style (Ajv then reports a type error).
 */
export function parseSimpleValue(spec: ParamSpec, raw: string): unknown {
  let value = raw;
  if (spec.in === 'path' && spec.style === 'label') {
    if (!value.startsWith('.')) return undefined;
    value = value.slice(1);
  } else if (spec.in === 'path' && spec.style === 'matrix') {
    const prefix = `;${spec.name}=`;
    if (spec.shape === 'scalar' || !spec.explode) {
      if (!value.startsWith(prefix)) return undefined;
      value = value.slice(prefix.length);
    } else if (spec.shape === 'array') {
      return value.split(';').slice(1).map((part) => (part.startsWith(`${spec.name}=`) ? part.slice(spec.name.length + 1) : undefined));
    } else {
      return pairs(value.split(';').slice(1), true);
    }
  }
  const delimiter = spec.style === 'label' && spec.explode ? '.' : ',';
  if (spec.shape === 'array') return split(value, delimiter);
  if (spec.shape === 'object') return pairs(split(value, delimiter), spec.explode);
  return value;
}

export interface QueryParseResult {
  /** Parameter name → value (strings, string arrays or string maps; Ajv coerces types). */
  readonly values: Record<string, unknown>;
  /** Query keys no declared parameter consumed. */
  readonly undeclared: readonly string[];
}

/** Groups a query string's entries into declared parameter values and lists the keys nobody declared. */
export function parseQuery(specs: readonly ParamSpec[], query: URLSearchParams): QueryParseResult {
  const values: Record<string, unknown> = {};
  const consumed = new Set<string>();
  for (const spec of specs) {
    if (spec.style === 'deepObject') {
      const prefix = `${spec.name}[`;
      let object: Record<string, string> | undefined;
      for (const [key, value] of query) {
        if (!key.startsWith(prefix) || !key.endsWith(']')) continue;
        consumed.add(key);
        const prop = key.slice(prefix.length, -1);
        // Keys are the client's: without a prototype, `__proto__` is an own property the schema sees (and refuses).
        object ??= Object.create(null) as Record<string, string>;
        // A repeated deepObject key is ambiguous: keep it as a list so a scalar schema rejects it.
        object[prop] = prop in object ? ([] as string[]).concat(object[prop]!, value) as unknown as string : value;
      }
      if (object) values[spec.name] = object;
      continue;
    }
    if (spec.shape === 'object' && spec.explode && spec.style === 'form') {
      let object: Record<string, unknown> | undefined;
      for (const prop of spec.propertyNames) {
        const all = query.getAll(prop);
        if (all.length === 0) continue;
        consumed.add(prop);
        object ??= {};
        object[prop] = all.length === 1 ? all[0] : all;
      }
      if (object) values[spec.name] = object;
      continue;
    }
    const all = query.getAll(spec.name);
    if (all.length === 0) continue;
    consumed.add(spec.name);
    if (spec.jsonContent) {
      // Parsed as JSON by the validator; repeated values stay a list so the schema rejects them.
      values[spec.name] = all.length === 1 ? all[0] : all;
      continue;
    }
    if (spec.shape === 'array' && !spec.explode) {
      // A non-exploded array is one key: a repeated key (`?ids=1&ids=2`) is pollution an upstream may read as
      // either value, so it becomes a non-array that the array schema rejects.
      values[spec.name] = all.length === 1 ? split(all[0]!, DELIMITER[spec.style] ?? ',') : { repeated: all.length };
    } else if (spec.shape === 'object') {
      values[spec.name] = all.length === 1 ? pairs(split(all[0]!, ','), false) : all;
    } else {
      // Repeated scalars stay a list, so the schema's scalar type rejects them (parameter pollution).
      values[spec.name] = all.length === 1 ? all[0] : all;
    }
  }
  // A Set: a list's includes() made a query of n distinct undeclared keys cost O(n²).
  const undeclared = new Set<string>();
  for (const key of query.keys()) if (!consumed.has(key)) undeclared.add(key);
  return { values, undeclared: [...undeclared] };
}

/**
 * Parses a Cookie header into name → value (values not decoded beyond quotes). A name sent twice maps to the list
 * of its values, so a scalar schema rejects it: which one an upstream reads differs between frameworks.
 */
export function parseCookies(header: string | undefined): Map<string, string | string[]> {
  const cookies = new Map<string, string | string[]>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const prior = cookies.get(name);
    cookies.set(name, prior === undefined ? value : ([] as string[]).concat(prior, value));
  }
  return cookies;
}
