import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { ProxiedResponse } from '../../pipeline/types.ts';
import { compileFailureCondition } from './failure.ts';
import { loginConfig } from '../../../test/helpers/config.ts';

const response = (status: number, body: unknown, type = 'application/json'): ProxiedResponse => ({
  status,
  headers: { 'content-type': type },
  body: body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});

test('default: 401 and 403 only; nothing read from the body', () => {
  const c = compileFailureCondition(loginConfig({ account_field: 'u' }), 'x');
  assert.equal(c.needsBody, false);
  assert.ok(c.isFailure(response(401, undefined)) && c.isFailure(response(403, undefined)));
  assert.ok(!c.isFailure(response(200, { message: 'Password is not correct' })));
  assert.deepEqual(['200', '401', '4XX', '2XX', 'default'].map((s) => c.canMatch(s)), [false, true, true, false, true]);
});

test('body rules: nested pointers with escapes and array indexes; non-JSON and malformed bodies count as failures, 5xx never', () => {
  const c = compileFailureCondition(
    loginConfig({ account_field: 'u', failure: { status: [], body: [{ pointer: '/errors/0/a~1b', equals: 'BAD' }, { pointer: '/msg', matches: 'wrong$' }] } }),
    'x',
  );
  assert.equal(c.needsBody, true);
  assert.ok(c.isFailure(response(200, { errors: [{ 'a/b': 'BAD' }] })));
  assert.ok(c.isFailure(response(200, { errors: { 0: { 'a/b': 'BAD' } } })), 'an object member named 0 is a member');
  assert.ok(!c.isFailure(response(200, { errors: [{ 'a/b': 'bad' }] })));
  assert.ok(c.isFailure(response(400, { msg: 'password wrong' })));
  assert.ok(!c.isFailure(response(200, { msg: `${'x'.repeat(2000)}wrong` })), 'only the first 1024 characters are matched');
  assert.ok(!c.isFailure(response(200, { msg: ['wrong'] })), 'matches needs a string');
  assert.ok(c.isFailure(response(200, '<r><msg>wrong</msg></r>', 'application/xml')), 'a body the rules cannot judge (the client negotiated XML) fails closed');
  assert.ok(c.isFailure(response(200, '{"msg": "wrong"', 'application/json')), 'malformed JSON');
  assert.ok(!c.isFailure(response(200, '', 'application/json')), 'an empty body (a 204-style success) is not a failure');
  const gzipped: ProxiedResponse = { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ msg: 'wrong' })) };
  assert.ok(c.isFailure(gzipped), 'a compressed body is decoded first');
  const success: ProxiedResponse = { status: 200, headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: brotliCompressSync(JSON.stringify({ token: 't' })) };
  assert.ok(!c.isFailure(success));
  assert.ok(!c.isFailure(response(502, { msg: 'wrong' })), '5xx is never a login failure');
  assert.ok(c.isFailure(response(200, { msg: 'wrong' }, 'application/problem+json; charset=utf-8')));
  assert.ok(!c.isFailure(response(200, { ['__proto__']: { msg: 'wrong' } })));
});

test('a rule limited to statuses; canMatch follows them', () => {
  const c = compileFailureCondition(loginConfig({ account_field: 'u', failure: { status: [], body: [{ pointer: '/error', present: true, status: [200] }] } }), 'x');
  assert.ok(c.isFailure(response(200, { error: null })));
  assert.ok(!c.isFailure(response(201, { error: 'x' })));
  assert.deepEqual(['200', '201', '2XX', '4XX'].map((s) => c.canMatch(s)), [true, false, true, false]);
});

test('misconfigured rules name their path', () => {
  assert.throws(() => compileFailureCondition(loginConfig({ account_field: 'u', failure: { status: [], body: [{ pointer: '/m', matches: '[' }] } }), 'at'), /at\.failure\.body\[0\]\.matches: not a valid/);
  assert.throws(() => compileFailureCondition(loginConfig({ account_field: 'u', failure: { status: [], body: [{ pointer: '/m', matches: 'a', equals: 'b' }] } }), 'at'), /at\.failure\.body\[0\]: set exactly one of equals, matches or present \(found equals, matches\)/);
  assert.throws(() => compileFailureCondition(loginConfig({ account_field: 'u', failure: { status: [], body: [{ pointer: '/m' }] } }), 'at'), /found none/);
});
