/**
 * Property tests of the parameter parsers (fast-check, bounded runs): they never throw, they agree with the
 * platform's URLSearchParams on single values, and a repeated parameter never comes back as one scalar (an upstream
 * may read either copy, so the value must stay visibly ambiguous for the schema to refuse).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ParameterObject } from './load.ts';
import { paramSpec, parseCookies, parseQuery, parseSimpleValue } from './params.ts';

const RUNS = { numRuns: 300 };
const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,7}$/);
const style = fc.constantFrom(undefined, 'form', 'simple', 'label', 'matrix', 'spaceDelimited', 'pipeDelimited', 'deepObject');
const schema = fc.constantFrom({ type: 'string' }, { type: 'integer' }, { type: 'array', items: { type: 'string' } }, { type: 'object', properties: { a: { type: 'string' } } }, {});
const param = fc.record({ name, in: fc.constantFrom('path', 'query', 'header', 'cookie'), style, explode: fc.option(fc.boolean(), { nil: undefined }), schema });

describe('openapi/params (properties)', () => {
  it('parseSimpleValue, parseQuery and parseCookies never throw on any input', () => {
    fc.assert(
      fc.property(param, fc.string({ unit: 'binary' }), (p, raw) => {
        const spec = paramSpec(p as ParameterObject);
        parseSimpleValue(spec, raw);
        parseQuery([spec], new URLSearchParams(raw));
        parseCookies(raw);
      }),
      RUNS,
    );
  });

  it('a scalar query parameter sent once reads as URLSearchParams reads it; sent twice it is never a scalar', () => {
    fc.assert(
      fc.property(name, fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: 1, maxLength: 3 }), fc.boolean(), (n, values, exploded) => {
        const query = new URLSearchParams(values.map((v): [string, string] => [n, v]));
        const spec = paramSpec({ name: n, in: 'query', explode: exploded, schema: { type: 'string' } } as ParameterObject);
        const parsed = parseQuery([spec], new URLSearchParams(query.toString())).values[n];
        if (values.length === 1) assert.equal(parsed, new URLSearchParams(query.toString()).get(n));
        else assert.ok(Array.isArray(parsed) && parsed.length === values.length);
      }),
      RUNS,
    );
  });

  it('a non-exploded array sent twice is never an array (the array schema refuses it)', () => {
    fc.assert(
      fc.property(name, fc.array(fc.stringMatching(/^[a-z0-9,]{0,8}$/), { minLength: 2, maxLength: 4 }), (n, values) => {
        const spec = paramSpec({ name: n, in: 'query', explode: false, schema: { type: 'array', items: { type: 'string' } } } as ParameterObject);
        const parsed = parseQuery([spec], new URLSearchParams(values.map((v): [string, string] => [n, v]))).values[n];
        assert.ok(!Array.isArray(parsed));
      }),
      RUNS,
    );
  });

  it('every undeclared key is reported once, declared keys never', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (names, picks) => {
        const [declared, ...others] = names;
        const keys = [declared!, ...picks.map((i) => others[i % Math.max(1, others.length)] ?? declared!)];
        const spec = paramSpec({ name: declared!, in: 'query', schema: { type: 'string' } } as ParameterObject);
        const { undeclared } = parseQuery([spec], new URLSearchParams(keys.map((k): [string, string] => [k, '1'])));
        assert.deepEqual([...undeclared].sort(), [...new Set(keys.filter((k) => k !== declared))].sort());
      }),
      RUNS,
    );
  });

  it('a cookie sent once reads back as sent; a cookie sent twice is a list of both', () => {
    const value = fc.stringMatching(/^[A-Za-z0-9!#$%&'()*+\-./:<>?@[\]^_`{|}~]{0,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), fc.array(value, { minLength: 5, maxLength: 5 }), fc.nat({ max: 4 }), (names, values, repeat) => {
        const pairs = names.map((n, i) => [n, values[i]!] as const);
        const twice = pairs[repeat % pairs.length]!;
        const header = [...pairs, [twice[0], 'again'] as const].map(([n, v]) => `${n}=${v}`).join('; ');
        const cookies = parseCookies(header);
        for (const [n, v] of pairs) {
          if (n === twice[0]) assert.deepEqual(cookies.get(n), [v, 'again']);
          else assert.equal(cookies.get(n), v);
        }
      }),
      RUNS,
    );
  });
});
