import { visit } from 'jsonc-parser';
import type { ProblemFieldError } from '../../problem.ts';

/** Keys that poison prototypes when a naive upstream merges the body into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Caps on the work one JSON document may cost (from `apis[].validation`). */
export interface JsonSafetyOptions {
  /** Deepest nesting of objects and arrays. */
  readonly maxDepth: number;
  /** Most keys in one object. */
  readonly maxObjectKeys: number;
  /** Most tokens in the document: every value (object, array, string, number, boolean, null) and every key. */
  readonly maxTokens: number;
  readonly rejectDuplicates: boolean;
  /** Prefix of error pointers, e.g. `body` or `query/filter`. */
  readonly pointerBase: string;
}

export type JsonParseResult =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly code: 'validation_failed' | 'payload_too_large'; readonly error: ProblemFieldError; readonly reason: string };

/**
 * Parses a JSON document safely: strict JSON syntax (JSON.parse); nesting no deeper than `maxDepth`; at most
 * `maxObjectKeys` keys per object and `maxTokens` tokens in all (else `payload_too_large`); no
 * `__proto__`/`constructor`/`prototype` keys; no lone surrogates in strings or keys (parsers disagree on them);
 * and, with `rejectDuplicates`, no key twice in one object.
 *
 * Duplicate keys are invisible after JSON.parse (last one wins, other parsers keep the first), so the text is
 * scanned again with `jsonc-parser`'s visitor (linear: one Set per open object), unless counting colons already
 * proves every key distinct. The caps are checked on the parsed value first, so the scan only runs on documents
 * whose size in tokens is already bounded. Never throws; errors
 * never contain input values.
 */
export function parseJsonSafely(text: string, options: JsonSafetyOptions): JsonParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(options.pointerBase, 'must be well-formed JSON', 'malformed JSON');
  }
  const keys = inspect(value, options);
  if (typeof keys !== 'number') return keys;
  // Every key in the text is followed by its own ':' outside strings, so when the text holds no more colons than
  // the parsed value holds keys, no key can have been collapsed: the scan is only needed when strings hold colons.
  if (options.rejectDuplicates && keys > 0 && colonsIn(text) > keys) {
    const scan = scanKeys(text);
    if (scan === 'duplicate') return fail(options.pointerBase, 'must not repeat a key in one object', 'duplicate JSON key');
    if (scan === 'unreadable') return fail(options.pointerBase, 'must be well-formed JSON', 'JSON scanner disagreed with JSON.parse');
  }
  return { ok: true, value };
}

function fail(pointer: string, message: string, reason: string, code: 'validation_failed' | 'payload_too_large' = 'validation_failed'): JsonParseResult {
  return { ok: false, code, error: { pointer, message }, reason };
}

/**
 * Depth, size and key checks, iterative so a hostile document cannot exhaust the stack. Returns the number of keys
 * of all objects, or the failure.
 */
function inspect(root: unknown, options: JsonSafetyOptions): JsonParseResult | number {
  const { maxDepth, maxObjectKeys, maxTokens, pointerBase } = options;
  const tooMany = () => fail(pointerBase, `must not hold more than ${maxTokens} values`, 'too many JSON tokens', 'payload_too_large');
  const surrogate = (where: string) => fail(pointerBase, 'must not contain unpaired UTF-16 surrogates', `lone surrogate in a JSON ${where}`);
  // Containers go on the stack; scalars are counted and checked where they are found.
  const stack: { value: object; depth: number }[] = [];
  let tokens = 1;
  let keyCount = 0;
  if (typeof root === 'string' && !root.isWellFormed()) return surrogate('string');
  if (root !== null && typeof root === 'object') stack.push({ value: root, depth: 1 });
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (depth > maxDepth) return fail(pointerBase, `must not nest deeper than ${maxDepth} levels`, 'JSON nesting too deep');
    if (Array.isArray(value)) {
      tokens += value.length;
      if (tokens > maxTokens) return tooMany();
      for (const item of value as unknown[]) {
        if (typeof item === 'string') {
          if (!item.isWellFormed()) return surrogate('string');
        } else if (item !== null && typeof item === 'object') stack.push({ value: item, depth: depth + 1 });
      }
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > maxObjectKeys) return fail(pointerBase, `must not have more than ${maxObjectKeys} keys in one object`, 'too many keys in a JSON object');
    tokens += 2 * keys.length;
    keyCount += keys.length;
    if (tokens > maxTokens) return tooMany();
    for (const key of keys) {
      if (FORBIDDEN_KEYS.has(key)) return fail(pointerBase, 'must not contain the keys __proto__, constructor or prototype', `forbidden key ${key}`);
      if (!key.isWellFormed()) return surrogate('key');
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'string') {
        if (!child.isWellFormed()) return surrogate('string');
      } else if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1 });
    }
  }
  return keyCount;
}

function colonsIn(text: string): number {
  let count = 0;
  for (let at = text.indexOf(':'); at !== -1; at = text.indexOf(':', at + 1)) count++;
  return count;
}

/** Thrown out of the visitor to stop the scan at the first duplicate; never escapes {@link scanKeys}. */
const STOP = Symbol('stop');

/**
 * One pass of jsonc-parser's scanner over text JSON.parse accepted, with comments and trailing commas disallowed.
 * Its whitespace is a superset of JSON's (CR included), and it unescapes keys as JSON.parse does, so `"a"` and
 * `"\u0061"` are the same key. Any scanner error means the two parsers disagree: the caller refuses the document.
 */
function scanKeys(text: string): 'unique' | 'duplicate' | 'unreadable' {
  const open: Set<string>[] = [];
  let result: 'unique' | 'duplicate' | 'unreadable' = 'unique';
  try {
    visit(
      text,
      {
        onObjectBegin: () => {
          open.push(new Set());
        },
        onObjectEnd: () => {
          open.pop();
        },
        onObjectProperty: (property) => {
          const keys = open[open.length - 1]!;
          if (keys.has(property)) {
            result = 'duplicate';
            throw STOP;
          }
          keys.add(property);
        },
        onError: () => {
          result = 'unreadable';
          throw STOP;
        },
        onComment: () => {
          result = 'unreadable';
          throw STOP;
        },
      },
      { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
    );
  } catch (error) {
    if (error !== STOP) return 'unreadable';
  }
  return result;
}
