/**
 * Property tests: the WAF's decoding and every detector never throw on any input, decoding stays within its
 * structural work bound (each decoded form is at most as long as the value, at most MAX_DECODE_ROUNDS + 2 forms),
 * and adversarial inputs of the maximum field size built from each detector's trigger characters complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DECODE_ROUNDS, probesOf } from './decode.ts';
import { createScanner, DETECTORS, scanValue } from './detect.ts';
import { detectLeak } from './leak-rules.ts';
import { FAMILIES } from './types.ts';

const LOCATIONS = ['path', 'query', 'header', 'cookie', 'body', 'key', 'filename'] as const;
const ALPHABET = ['<', '>', '/', '\\', '.', '%', '&', '#', ';', ':', '$', '{', '}', '(', ')', "'", '"', '`', '|', '=', '*', '\n', '\r', 'on', 'script', 'jndi', '${', '://', '../', '%25', '&#', '\\u', 'a', '1', ' ', '\u0000', '\uff1c'];
const textArb = fc.oneof(fc.string({ maxLength: 400 }), fc.array(fc.constantFrom(...ALPHABET), { maxLength: 200 }).map((a) => a.join('')));

test('decoding and scanning never throw, and decoding is bounded by the value length', () => {
  const scanners = [1, 2, 3, 4].map((p) => createScanner(new Set(FAMILIES), p));
  fc.assert(
    fc.property(textArb, fc.constantFrom(...LOCATIONS), fc.integer({ min: 0, max: 3 }), (value, location, p) => {
      const budget = { remaining: 1e9 };
      const probes = probesOf(value, location, budget);
      assert.ok(probes.length <= MAX_DECODE_ROUNDS + 2);
      for (const probe of probes) assert.ok(probe.text.length <= value.length);
      assert.ok(1e9 - budget.remaining <= (MAX_DECODE_ROUNDS + 2) * (value.length + 1));
      scanValue(scanners[p]!, value, location, { remaining: 1e9 });
      detectLeak(value);
    }),
    { numRuns: 1500 },
  );
});

test('the scan budget is enforced, not exceeded', () => {
  assert.throws(() => probesOf('%253C'.repeat(1000), 'body', { remaining: 100 }), { name: 'ScanBudgetError' });
});

test('each detector completes on adversarial inputs of the maximum field size (10 000 characters)', () => {
  const size = 10_000;
  const patterns = ['<', '<a ', ' on', '"on', 'onx', '${', '${${', '{{', '#{', '://', 'a:', ':/', '../', '..', ';', '|', '`', '$(', '$', '[$ne]', ')(', '(&(', ':=', '//*', '\n', '&#', '%', '%25', '\\u', 'alert', 'db.', 'sleep(', 'bin/', '<!doctype', 'encoding='];
  for (const pattern of patterns) {
    const value = pattern.repeat(Math.ceil(size / pattern.length)).slice(0, size);
    for (const [family, detect] of Object.entries(DETECTORS)) {
      for (const probe of probesOf(value, 'body', { remaining: 1e9 })) {
        for (let p = 1; p <= 4; p++) detect(probe, p);
      }
      assert.ok(family.length > 0);
    }
    detectLeak(value);
  }
});
