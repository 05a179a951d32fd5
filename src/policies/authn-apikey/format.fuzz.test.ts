/**
 * Property tests of the API key format (fast-check, bounded runs): parsing never throws, accepts only the
 * documented shape, round-trips generated keys, and refuses every single-character typo through the checksum.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateApiKey, KEY_PATTERN, MAX_KEY_LENGTH, newKeyId, parseApiKey } from './format.ts';

const RUNS = { numRuns: 300 };
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('API key format (properties)', () => {
  it('never throws; whatever it accepts has the documented shape', () => {
    const near = fc.string({ unit: fc.constantFrom(...BASE62, '_', '-', ' ', '\0'), minLength: MAX_KEY_LENGTH, maxLength: MAX_KEY_LENGTH }).map((s) => `rk_live_${s}`.slice(0, MAX_KEY_LENGTH));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), near), (value) => {
        const parsed = parseApiKey(value);
        if (parsed) {
          assert.match(value, KEY_PATTERN);
          assert.equal(parsed.prefix, 'rk_live');
          assert.equal(value.slice(8, 20), parsed.id);
        }
      }),
      RUNS,
    );
  });

  it('round-trips generated keys and refuses any single-character change', () => {
    fc.assert(
      fc.property(fc.nat({ max: MAX_KEY_LENGTH - 1 }), fc.constantFrom(...BASE62, '_'), (position, replacement) => {
        const id = newKeyId();
        const { key } = generateApiKey(id);
        assert.deepEqual(parseApiKey(key), { prefix: 'rk_live', id });
        fc.pre(key[position] !== replacement);
        const typo = key.slice(0, position) + replacement + key.slice(position + 1);
        assert.equal(parseApiKey(typo), undefined);
      }),
      RUNS,
    );
  });

  it('refuses generated keys with whitespace, case folding or a prefix or suffix added', () => {
    fc.assert(
      fc.property(fc.constantFrom(' ', '\t', '\n', 'x', '\u00a0'), fc.boolean(), (extra, before) => {
        const { key } = generateApiKey();
        assert.equal(parseApiKey(before ? extra + key : key + extra), undefined);
        if (key !== key.toLowerCase()) assert.equal(parseApiKey(key.toLowerCase()), undefined);
      }),
      RUNS,
    );
  });
});
