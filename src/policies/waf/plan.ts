import type { ParameterObject, SpecOperation } from '../../openapi/load.ts';

/**
 * Which values of an operation are free text, decided once from the spec. A string is free text when its schema
 * has no `enum`/`const`, `pattern`, `format` or small `maxLength`; URL formats (`uri`, `iri`, `url`…) are scanned
 * for SSRF-style families only; `contentEncoding: base64` strings are decoded first. Objects with declared
 * properties walk into them; any key the schema does not declare (free keys) is itself scanned. A missing or empty
 * schema means anything: scanned whole.
 */

/** How a string value is treated: scanned fully, as a URL, base64-decoded then scanned, or not at all. */
export type StringMode = 'free' | 'url' | 'base64' | 'skip';

/** A compiled schema node for walking values. Cyclic for recursive schemas (built once, shared). */
export interface SchemaNode {
  strings: StringMode;
  /** Declared properties; keys outside it are free keys (scanned). */
  props: Map<string, SchemaNode> | undefined;
  /** Node for values under undeclared keys. */
  additional: SchemaNode;
  items: SchemaNode;
  prefixItems: SchemaNode[] | undefined;
}

/** The node that scans everything (no contract). */
export const FREE: SchemaNode = { strings: 'free', props: undefined, additional: undefined as unknown as SchemaNode, items: undefined as unknown as SchemaNode, prefixItems: undefined };
FREE.additional = FREE;
FREE.items = FREE;

const URL_FORMATS = new Set(['uri', 'url', 'iri', 'uri-reference', 'iri-reference', 'uri-template']);
const RANK: Record<StringMode, number> = { skip: 0, url: 1, base64: 2, free: 3 };

export interface PlanOptions {
  /** Strings with `maxLength` at most this are constrained. */
  readonly shortMaxLength: number;
}

/** Compiles a schema into a walk node (memoised per schema object, so cycles terminate). */
export function nodeOf(schema: unknown, options: PlanOptions, memo = new WeakMap<object, SchemaNode>()): SchemaNode {
  if (schema === false) return { ...FREE, strings: 'skip' };
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return FREE;
  const cached = memo.get(schema);
  if (cached) return cached;
  const s = schema as Record<string, unknown>;
  const node: SchemaNode = { strings: 'free', props: undefined, additional: FREE, items: FREE, prefixItems: undefined };
  memo.set(schema, node);
  node.strings = ownMode(s, options);
  const properties = s['properties'];
  if (properties && typeof properties === 'object') {
    node.props = new Map(Object.entries(properties as Record<string, unknown>).map(([name, sub]) => [name, nodeOf(sub, options, memo)]));
  }
  if (s['additionalProperties'] !== undefined && typeof s['additionalProperties'] === 'object') node.additional = nodeOf(s['additionalProperties'], options, memo);
  if (s['items'] !== undefined && typeof s['items'] === 'object') node.items = nodeOf(s['items'], options, memo);
  if (Array.isArray(s['prefixItems'])) node.prefixItems = (s['prefixItems'] as unknown[]).map((sub) => nodeOf(sub, options, memo));
  for (const keyword of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = s[keyword];
    if (!Array.isArray(branches) || branches.length === 0) continue;
    const nodes = branches.map((b) => nodeOf(b, options, memo));
    // allOf: every branch constrains the string (the tightest wins); anyOf/oneOf: any branch may accept it.
    const modes = nodes.map((n) => RANK[n.strings]);
    const combined = keyword === 'allOf' ? Math.min(...modes) : Math.max(...modes);
    if (!hasOwnStringConstraint(s)) node.strings = (Object.keys(RANK) as StringMode[]).find((m) => RANK[m] === combined)!;
    for (const branch of nodes) {
      if (!branch.props) continue;
      node.props ??= new Map();
      for (const [name, sub] of branch.props) {
        const prior = node.props.get(name);
        node.props.set(name, prior === undefined || prior === sub ? sub : FREE);
      }
    }
  }
  return node;
}

function typesOf(s: Record<string, unknown>): string[] {
  const type = s['type'];
  return typeof type === 'string' ? [type] : Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

function hasOwnStringConstraint(s: Record<string, unknown>): boolean {
  return s['enum'] !== undefined || s['const'] !== undefined || s['pattern'] !== undefined || s['format'] !== undefined || s['maxLength'] !== undefined || typesOf(s).length > 0;
}

function ownMode(s: Record<string, unknown>, options: PlanOptions): StringMode {
  const types = typesOf(s);
  if (types.length > 0 && !types.includes('string')) return 'skip';
  if (s['enum'] !== undefined || s['const'] !== undefined || s['pattern'] !== undefined) return 'skip';
  if (typeof s['format'] === 'string') return URL_FORMATS.has(s['format']) ? 'url' : s['format'] === 'byte' ? 'skip' : 'skip';
  if (typeof s['maxLength'] === 'number' && s['maxLength'] <= options.shortMaxLength) return 'skip';
  if (s['contentEncoding'] === 'base64') return 'base64';
  return 'free';
}

/** One parameter to scan, with its walk node. */
export interface ParamPlan {
  readonly name: string;
  /** Lower-case for headers. */
  readonly key: string;
  readonly node: SchemaNode;
  readonly array: boolean;
  readonly json: boolean;
}

/** Everything the WAF scans for one operation. */
export interface ScanPlan {
  /** Passthrough: no contract, scan every input. */
  readonly all: boolean;
  readonly path: readonly ParamPlan[];
  readonly query: ReadonlyMap<string, ParamPlan>;
  readonly headers: ReadonlyMap<string, ParamPlan>;
  readonly cookies: ReadonlyMap<string, ParamPlan>;
  /** Lower-case media type → body node. Media types not listed are scanned whole. */
  readonly bodies: ReadonlyMap<string, SchemaNode>;
}

/** Compiles the scan plan of an operation (undefined: passthrough, scan everything). */
export function planOf(operation: SpecOperation | undefined, options: PlanOptions): ScanPlan {
  const memo = new WeakMap<object, SchemaNode>();
  const empty = new Map<string, ParamPlan>();
  if (!operation) return { all: true, path: [], query: empty, headers: empty, cookies: empty, bodies: new Map() };
  const path: ParamPlan[] = [];
  const query = new Map<string, ParamPlan>();
  const headers = new Map<string, ParamPlan>();
  const cookies = new Map<string, ParamPlan>();
  for (const param of operation.parameters) {
    const plan = paramPlan(param, options, memo);
    if (param.in === 'path') path.push(plan);
    else if (param.in === 'query') query.set(plan.key, plan);
    else if (param.in === 'header') headers.set(plan.key, plan);
    else if (param.in === 'cookie') cookies.set(plan.key, plan);
  }
  const bodies = new Map<string, SchemaNode>();
  for (const [type, content] of Object.entries(operation.requestBody?.content ?? {})) bodies.set(type.toLowerCase(), nodeOf(content.schema, options, memo));
  return { all: false, path, query, headers, cookies, bodies };
}

function paramPlan(param: ParameterObject, options: PlanOptions, memo: WeakMap<object, SchemaNode>): ParamPlan {
  const content = param.content ? Object.entries(param.content)[0] : undefined;
  const json = content !== undefined && (content[0] === 'application/json' || content[0].endsWith('+json'));
  const schema = param.schema ?? content?.[1].schema;
  const node = nodeOf(schema, options, memo);
  const types = schema && typeof schema === 'object' ? typesOf(schema as Record<string, unknown>) : [];
  return { name: param.name, key: param.in === 'header' ? param.name.toLowerCase() : param.name, node, array: types.includes('array'), json };
}

/** Whether anything under `node` is scanned (for the `rampart check` report). */
export function scansAnything(node: SchemaNode, seen = new Set<SchemaNode>()): boolean {
  if (node === FREE || node.strings !== 'skip') return true;
  if (seen.has(node)) return false;
  seen.add(node);
  // Objects: undeclared keys are only possible when validation lets them through; report declared members.
  if (node.props) for (const sub of node.props.values()) if (scansAnything(sub, seen)) return true;
  return scansAnything(node.items, seen) || (node.prefixItems ?? []).some((n) => scansAnything(n, seen));
}

/** Field pointers under `node` that are scanned, for the `rampart check` report (bounded). */
export function scannedFields(node: SchemaNode, base: string, out: string[] = [], seen = new Set<SchemaNode>(), limit = 32): string[] {
  if (out.length >= limit) return out;
  if (node === FREE) {
    out.push(`${base}/**`);
    return out;
  }
  if (seen.has(node)) return out;
  seen.add(node);
  if (node.props) {
    for (const [name, sub] of node.props) scannedFields(sub, `${base}/${name}`, out, seen, limit);
    seen.delete(node);
    return out;
  }
  if (node.strings !== 'skip') out.push(node.strings === 'free' ? base : `${base}(${node.strings})`);
  else if (scansAnything(node.items, new Set(seen))) scannedFields(node.items, `${base}/*`, out, seen, limit);
  seen.delete(node);
  return out;
}
