import { parseDocument } from 'yaml';
import type { ProblemFieldError } from '../../problem.ts';

/** Keys that poison prototypes when a naive upstream merges the body into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonParseResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: ProblemFieldError; readonly reason: string };

/**
 * Parses a JSON document safely: strict JSON syntax (JSON.parse), nesting no deeper than `maxDepth` (objects and
 * arrays), no `__proto__`/`constructor`/`prototype` keys at any level, and no duplicate keys in one object.
 *
 * Duplicate keys are invisible after JSON.parse (last one wins, while other parsers keep the first), so they are
 * found with the maintained `yaml` parser, whose JSON-compatible flow syntax reports DUPLICATE_KEY. That second
 * parse costs far more CPU than JSON.parse (roughly 0.4 ms per KiB), which is why it runs last, only on documents
 * that passed every cheaper check, and only when `rejectDuplicates` is set.
 * `pointerBase` prefixes error pointers (e.g. `body`). Never throws; errors never contain input values.
 */
export function parseJsonSafely(text: string, options: { maxDepth: number; rejectDuplicates: boolean; pointerBase: string }): JsonParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(options.pointerBase, 'must be well-formed JSON', 'malformed JSON');
  }
  const problem = inspect(value, options.maxDepth, options.pointerBase);
  if (problem) return problem;
  if (options.rejectDuplicates && (typeof value === 'object' && value !== null) && hasDuplicateKeys(text)) {
    return fail(options.pointerBase, 'must not repeat a key in one object', 'duplicate JSON key');
  }
  return { ok: true, value };
}

function fail(pointer: string, message: string, reason: string): JsonParseResult {
  return { ok: false, error: { pointer, message }, reason };
}

/** Depth and forbidden-key check, iterative so a hostile document cannot exhaust the stack. */
function inspect(root: unknown, maxDepth: number, pointerBase: string): JsonParseResult | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth + 1 > maxDepth) return fail(pointerBase, `must not nest deeper than ${maxDepth} levels`, 'JSON nesting too deep');
    if (Array.isArray(value)) {
      for (const item of value) if (item !== null && typeof item === 'object') stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return fail(pointerBase, 'must not contain the keys __proto__, constructor or prototype', `forbidden key ${key}`);
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}

function hasDuplicateKeys(text: string): boolean {
  const document = parseDocument(text, { uniqueKeys: true, schema: 'core', prettyErrors: false, keepSourceTokens: false });
  return document.errors.some((error) => error.code === 'DUPLICATE_KEY');
}
