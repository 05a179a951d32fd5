/**
 * Property tests of request-target validation (fast-check, bounded runs): parseTarget throws nothing but its
 * documented GatewayErrors, is idempotent, and never accepts a path the WHATWG URL parser (what upstream frameworks
 * and proxies resolve with) would read as another path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GatewayError } from '../problem.ts';
import { parseTarget } from './normalise.ts';

const RUNS = { numRuns: 500 };
const CODES = new Set(['uri_too_long', 'invalid_path', 'bad_request']);
/** Pieces attackers splice into targets: dots, slashes, escapes of both, double encoding, NUL, overlong UTF-8. */
const piece = fc.oneof(
  fc.constantFrom('/', '.', '..', '%2e', '%2E', '%2f', '%5c', '\\', '%25', '%252e', '%00', '%c0%ae', '%e0%80%ae', '%', '%g1', ';', '?', '#', '//', 'a', 'é', '%C3%A9', '~', '+', '@'),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,6}$/),
);
const target = fc.array(piece, { maxLength: 12 }).map((parts) => `/${parts.join('')}`);

function attempt(url: string): ReturnType<typeof parseTarget> | GatewayError {
  try {
    return parseTarget(url, 4096);
  } catch (error) {
    assert.ok(error instanceof GatewayError, `only GatewayError escapes, got ${String(error)}`);
    assert.ok(CODES.has(error.code), error.code);
    return error;
  }
}

describe('parseTarget (properties)', () => {
  it('throws only its documented errors, on spliced and on arbitrary targets', () => {
    fc.assert(fc.property(fc.oneof(target, fc.string({ unit: 'binary' })), (url) => void attempt(url)), RUNS);
  });

  it('is idempotent: what it accepts, it accepts again unchanged', () => {
    fc.assert(
      fc.property(target, (url) => {
        const first = attempt(url);
        if (first instanceof GatewayError) return;
        const again = attempt(first.rawQuery === '' && !url.includes('?') ? first.path : `${first.path}?${first.rawQuery}`);
        assert.deepEqual(again, first);
      }),
      RUNS,
    );
  });

  it('never accepts a path that the URL parser resolves to a different path', () => {
    fc.assert(
      fc.property(target, (url) => {
        const result = attempt(url);
        if (result instanceof GatewayError) return;
        assert.equal(new URL(result.path, 'http://upstream.test').pathname, result.path, url);
        const decoded = decodeURIComponent(result.path);
        assert.ok(!decoded.includes('\\') && !decoded.includes('\0'), url);
        assert.ok(!decoded.split('/').some((segment) => segment === '.' || segment === '..'), url);
      }),
      RUNS,
    );
  });

  it('refuses a target longer than the cap with uri_too_long', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (length, cap) => {
        const url = `/${'a'.repeat(length - 1)}`;
        let code: string | undefined;
        try {
          parseTarget(url, cap);
        } catch (error) {
          code = (error as GatewayError).code;
        }
        assert.equal(code, length > cap ? 'uri_too_long' : undefined);
      }),
      RUNS,
    );
  });
});
