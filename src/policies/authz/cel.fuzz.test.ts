/**
 * Property tests of CEL rules (fast-check, bounded runs): compiling throws only the documented Error naming the
 * rule's origin; evaluating never throws, whatever the request, identity and body hold; a rule allows only when
 * it evaluates to true, and agrees with the same check written in TypeScript.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileRule } from './cel.ts';

const RUNS = { numRuns: 300 };
const ORIGIN = 'apis[0].rules.fuzz';
const token = fc.constantFrom('request', 'identity', 'now', 'response', 'item', 'body', '.', '[', ']', '(', ')', '"a"', "'", '1', '-1', '1.5', 'true', 'null', '==', '!=', '&&', '||', '!', '?', ':', ' in ', 'size(', 'has(', ',', '{', '}', 'subject', 'roles', 'matches(', '"(a+)+$"', '\\', '`', '0x', 'u', 'b"', '/*', '+', '*', '/', '%');
const source = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.array(token, { maxLength: 16 }).map((t) => t.join('')));

function variables(body: unknown, subject: unknown, roles: unknown): Record<string, unknown> {
  return { request: { body, method: 'POST', path: '/x', query: {}, headers: {}, params: {} }, identity: { subject, roles, scopes: [], claims: {} }, now: new Date(0) };
}

describe('CEL rules (properties)', () => {
  it('compiling throws only an Error that names the origin; a compiled rule never throws when evaluated', () => {
    fc.assert(
      fc.property(source, fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 1 }), (text, body, subject) => {
        let rule: ReturnType<typeof compileRule> | undefined;
        try {
          rule = compileRule(text, ORIGIN, 'request');
        } catch (error) {
          assert.ok(error instanceof Error && error.message.startsWith(`${ORIGIN}: `), `documented error, got ${String(error).slice(0, 200)}`);
          return;
        }
        const result = rule.evaluate(variables(body, subject, []));
        assert.equal(typeof result.allowed, 'boolean');
      }),
      RUNS,
    );
  });

  it('an ownership rule allows exactly when the TypeScript check does, whatever the types in the body', () => {
    const rule = compileRule('has(request.body.owner) && request.body.owner == identity.subject', ORIGIN, 'request');
    const body = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ owner: fc.oneof(fc.constantFrom('alice', 'bob', ''), fc.jsonValue({ maxDepth: 1 })) }));
    fc.assert(
      fc.property(body, fc.constantFrom('alice', 'bob'), (value, subject) => {
        const expected = value !== null && typeof value === 'object' && !Array.isArray(value) && (value as Record<string, unknown>)['owner'] === subject;
        assert.equal(rule.evaluate(variables(value, subject, [])).allowed, expected);
      }),
      RUNS,
    );
  });

  it('a role rule allows exactly when the role is in the list, and never on a non-list', () => {
    const rule = compileRule('"admin" in identity.roles', ORIGIN, 'request');
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.constantFrom('admin', 'Admin', 'user', 'admin ', '')), fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), (roles) => {
        const expected = Array.isArray(roles) && roles.includes('admin');
        assert.equal(rule.evaluate(variables({}, 'alice', roles)).allowed, expected);
      }),
      RUNS,
    );
  });
});
