import { ConfigIssueError } from '../../config/errors.ts';
import type { FieldMode } from './cipher.ts';

/** A path step that stands for every array element or map value. */
export const EACH = '\0*';
const MAX_DEPTH = 8;

/** A property marked `x-rampart-encrypt`: where it is, how it is encrypted, who may read it (undefined: the API's scopes). */
export interface MarkedField {
  readonly path: readonly string[];
  /** `items/*\/email`: the field's name in associated data, logs and `rampart check`. */
  readonly label: string;
  readonly mode: FieldMode;
  readonly readScopes: readonly string[] | undefined;
}

function marker(value: unknown, where: string): { mode: FieldMode; readScopes: readonly string[] | undefined } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { mode: 'randomized', readScopes: undefined };
  const v = value as { mode?: unknown; read_scopes?: unknown } | null;
  const keysOk = v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).every((k) => k === 'mode' || k === 'read_scopes');
  const modeOk = keysOk && (v.mode === undefined || v.mode === 'randomized' || v.mode === 'deterministic');
  const scopesOk = keysOk && (v.read_scopes === undefined || (Array.isArray(v.read_scopes) && v.read_scopes.every((s) => typeof s === 'string' && s.length > 0)));
  if (!modeOk || !scopesOk) throw new ConfigIssueError(where, 'must be true or { mode: randomized|deterministic, read_scopes: [scope, …] }');
  return { mode: (v.mode as FieldMode | undefined) ?? 'randomized', readScopes: v.read_scopes as string[] | undefined };
}

/** The properties marked `x-rampart-encrypt` in `schemas` (nested objects, arrays, maps, allOf/oneOf/anyOf). */
export function markedFields(schemas: readonly unknown[], where: string): MarkedField[] {
  const found = new Map<string, MarkedField>();
  const walk = (schema: unknown, path: string[], depth: number) => {
    if (depth > MAX_DEPTH || schema === null || typeof schema !== 'object') return;
    const s = schema as { properties?: Record<string, unknown>; allOf?: unknown[]; oneOf?: unknown[]; anyOf?: unknown[]; items?: unknown; prefixItems?: unknown[]; additionalProperties?: unknown };
    const visit = (sub: unknown, next: string[]) => {
      const label = next.map((step) => (step === EACH ? '*' : step)).join('/');
      const mark = sub !== null && typeof sub === 'object' ? marker((sub as Record<string, unknown>)['x-rampart-encrypt'], `x-rampart-encrypt on ${where} ${label}`) : undefined;
      if (mark) found.set(label, { path: next, label, ...mark });
      else walk(sub, next, depth + 1);
    };
    for (const [name, sub] of Object.entries(s.properties ?? {})) visit(sub, [...path, name]);
    for (const sub of [s.items, ...(s.prefixItems ?? []), s.additionalProperties]) if (sub !== null && typeof sub === 'object') visit(sub, [...path, EACH]);
    for (const member of [...(s.allOf ?? []), ...(s.oneOf ?? []), ...(s.anyOf ?? [])]) walk(member, path, depth + 1);
  };
  for (const schema of schemas) walk(schema, [], 0);
  return [...found.values()];
}

/** Replaces, in place, every value found at `path` in `root` by `fn(value)` (absent and null values are left alone). */
export function rewriteAt(root: unknown, path: readonly string[], fn: (value: unknown) => unknown): void {
  const step = (node: unknown, i: number): void => {
    if (node === null || typeof node !== 'object') return;
    const key = path[i]!;
    const last = i === path.length - 1;
    const children: [string | number, unknown][] = key === EACH ? (Array.isArray(node) ? node.map((v, j) => [j, v] as [number, unknown]) : Object.entries(node)) : Array.isArray(node) || !Object.hasOwn(node, key) ? [] : [[key, (node as Record<string, unknown>)[key]]];
    for (const [k, v] of children) {
      if (!last) step(v, i + 1);
      else if (v !== null && v !== undefined) (node as Record<string | number, unknown>)[k] = fn(v);
    }
  };
  step(root, 0);
}
