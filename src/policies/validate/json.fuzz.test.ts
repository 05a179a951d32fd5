/**
 * Property tests of parseJsonSafely (fast-check, bounded runs): it never throws, agrees with JSON.parse on every
 * document it accepts, finds duplicate keys however they are spelt or spaced, and keeps to its caps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseJsonSafely, type JsonSafetyOptions } from './json.ts';

const OPEN: JsonSafetyOptions = { maxDepth: 256, maxObjectKeys: 1_000_000, maxTokens: 100_000_000, rejectDuplicates: true, pointerBase: 'body' };
const RUNS = { numRuns: 300 };
const CODES = new Set(['validation_failed', 'payload_too_large']);

/** JSON whitespace, CR included, between tokens. */
const space = fc.array(fc.constantFrom(' ', '\t', '\r', '\n'), { maxLength: 3 }).map((s) => s.join(''));
/** A key spelt as JSON.stringify does, or with one character as a `\u` escape (JSON.parse reads both alike). */
const spelling = (key: string) =>
  fc.nat({ max: key.length }).map((i) => {
    if (i === key.length) return JSON.stringify(key);
    const escaped = `\\u${key.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return `"${JSON.stringify(key.slice(0, i)).slice(1, -1)}${escaped}${JSON.stringify(key.slice(i + 1)).slice(1, -1)}"`;
  });

function hasForbidden(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(hasForbidden);
  return Object.entries(value).some(([k, v]) => ['__proto__', 'constructor', 'prototype'].includes(k) || hasForbidden(v));
}

describe('parseJsonSafely (properties)', () => {
  it('never throws, and whatever it accepts is exactly what JSON.parse reads', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        const result = parseJsonSafely(text, OPEN);
        let platform: { value: unknown } | undefined;
        try {
          platform = { value: JSON.parse(text) };
        } catch {
          platform = undefined;
        }
        if (result.ok) {
          assert.ok(platform, 'accepted only what JSON.parse accepts');
          assert.deepEqual(result.value, platform.value);
        } else {
          assert.ok(CODES.has(result.code));
          assert.equal(result.error.pointer, 'body');
        }
      }),
      RUNS,
    );
  });

  it('accepts every serialised JSON value without forbidden keys or lone surrogates', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        fc.pre(!hasForbidden(value) && text.isWellFormed());
        const result = parseJsonSafely(text, OPEN);
        assert.ok(result.ok, !result.ok ? result.reason : '');
      }),
      RUNS,
    );
  });

  it('refuses an object iff two of its keys are equal, whatever the escapes and whitespace', () => {
    const key = fc.constantFrom('id', 'a', 'ID', 'i', 'role', 'é', '\u00e9', 'e\u0301', '😀', 'x y', 'a:b', ':');
    const entries = fc.array(fc.tuple(key, fc.jsonValue({ maxDepth: 1 }).filter((v) => !hasForbidden(v))), { maxLength: 6 });
    const document = entries.chain((list) =>
      fc.tuple(fc.tuple(...list.map(([k]) => spelling(k))), fc.array(space, { minLength: list.length * 3 + 2, maxLength: list.length * 3 + 2 })).map(([spelt, ws]) => {
        const body = list.map(([, v], i) => `${ws[3 * i]}${spelt[i]}${ws[3 * i + 1]}:${ws[3 * i + 2]}${JSON.stringify(v)}`).join(',');
        return { text: `${ws.at(-2)}{${body}}${ws.at(-1)}`, keys: list.map(([k]) => k) };
      }),
    );
    fc.assert(
      fc.property(document, ({ text, keys }) => {
        const duplicated = new Set(keys).size !== keys.length;
        const result = parseJsonSafely(text, OPEN);
        assert.equal(result.ok, !duplicated, text);
        if (!result.ok) assert.equal(result.reason, 'duplicate JSON key');
      }),
      RUNS,
    );
  });

  it('finds a duplicate nested at any depth, and not across sibling objects', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.boolean(), (depth, duplicate) => {
        const inner = duplicate ? '{"k":1,\r"k":2}' : '[{"k":1},{"k":2}]';
        const text = '{"v":'.repeat(depth) + inner + '}'.repeat(depth);
        const result = parseJsonSafely(text, OPEN);
        assert.equal(result.ok, !duplicate);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps to maxObjectKeys, maxTokens and maxDepth', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 200 }), (keys, maxObjectKeys, maxTokens) => {
        const object = Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i]));
        const text = JSON.stringify(object);
        const result = parseJsonSafely(text, { ...OPEN, maxObjectKeys, maxTokens });
        const tokens = 1 + 2 * keys;
        if (keys > maxObjectKeys) assert.ok(!result.ok && result.reason === 'too many keys in a JSON object');
        else if (tokens > maxTokens) assert.ok(!result.ok && result.code === 'payload_too_large');
        else assert.ok(result.ok);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 256 }), (depth, maxDepth) => {
        const result = parseJsonSafely('['.repeat(depth) + ']'.repeat(depth), { ...OPEN, maxDepth });
        assert.equal(result.ok, depth <= maxDepth);
      }),
      RUNS,
    );
  });

  it('refuses lone surrogates in keys and strings, accepts paired ones', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0xd800, max: 0xdfff }), fc.boolean(), (unit, inKey) => {
        const escaped = `"\\u${unit.toString(16)}"`;
        const result = parseJsonSafely(inKey ? `{${escaped}:1}` : `[${escaped}]`, OPEN);
        assert.equal(result.ok, false);
      }),
      { numRuns: 100 },
    );
    assert.ok(parseJsonSafely('{"\\ud83d\\ude00":"\\ud83d\\ude00"}', OPEN).ok);
  });
});
