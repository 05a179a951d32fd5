/**
 * Password-policy attacks a red-team review tried, each refused since: passwords inside array elements, full-width
 * look-alikes of breached passwords and of the username, and one client flooding the estimator's queue.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from './helpers/gateway.ts';
import type { TestUpstream } from './helpers/upstream.ts';
import { startSpecGateway, type SpecGateway } from './helpers/spec-gateway.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { strengthScore } from '../src/policies/password-policy/strength.ts';

const SPEC = `openapi: 3.1.0
info: { title: accounts, version: 1.0.0 }
paths:
  /register:
    post:
      operationId: register
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [username, password]
              properties:
                username: { type: string, maxLength: 64 }
                password: { type: string, maxLength: 512, x-rampart-password: true }
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties:
                username: { type: string }
                password: { type: string, x-rampart-password: true }
      responses: { '201': { description: created } }
  /bulk-register:
    post:
      operationId: bulkRegister
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                users:
                  type: array
                  items:
                    type: object
                    properties:
                      username: { type: string }
                      password: { type: string, x-rampart-password: true }
      responses: { '201': { description: created } }
`;

let upstream: TestUpstream;
let gw: TestGateway;
let stack: SpecGateway | undefined;
before(async () => {
  stack = await startSpecGateway(SPEC);
  ({ gw, upstream } = stack);
});
after(() => stack?.close());

const post = (path: string, body: unknown, type = 'application/json') =>
  send(gw.url, path, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('password policy attacks', () => {
  test('a marked field inside array items is checked in every element', async () => {
    const seen = upstream.seen.length;
    const res = await post('/bulk-register', { users: [{ username: 'eve', password: 'password' }, { username: 'joe', password: 'joe' }] });
    assert.equal(res.status, 400);
    assert.deepEqual((res.json() as { errors: { pointer: string }[] }).errors.map((e) => e.pointer), ['body/users/0/password', 'body/users/1/password']);
    assert.equal(upstream.seen.length, seen);
  });

  test('NFKC look-alikes (fullwidth) of breached passwords and of the username are judged as what they normalise to', async () => {
    const seen = upstream.seen.length;
    assert.equal('ｐａｓｓｗｏｒｄ１２３４'.normalize('NFKC'), 'password1234');
    const breached = await post('/register', { username: 'eve', password: 'ｐａｓｓｗｏｒｄ１２３４' });
    const sameAsName = await post('/register', { username: 'alice.anders', password: 'ａｌｉｃｅ．ａｎｄｅｒｓ' });
    assert.equal(breached.status, 400);
    assert.match(breached.body, /breached/);
    assert.equal(sameAsName.status, 400);
    assert.match(sameAsName.body, /account's name/);
    assert.equal(upstream.seen.length, seen);
  });

  test('held up: a repeated form field, +json / charset variants are judged, and no password reaches the logs', async () => {
    const twice = await post('/register', 'username=bob&password=qwertyuiop123&password=plum%20tractor%20velvet%20orbit', 'application/x-www-form-urlencoded');
    assert.equal(twice.status, 400, 'a list fails the string schema');
    const charset = await post('/register', { username: 'bob', password: 'qwertyuiop123' }, 'application/json; charset=utf-8');
    assert.equal(charset.status, 400);
    const plusJson = await post('/register', { username: 'bob', password: 'qwertyuiop123' }, 'application/vnd.acme+json');
    assert.ok(plusJson.status === 400 || plusJson.status === 415, `status ${plusJson.status}`);
    const logs = JSON.stringify(gw.logs);
    for (const p of ['qwertyuiop123', 'plum tractor velvet orbit', 'ｐａｓｓｗｏｒｄ１２３４']) assert.ok(!logs.includes(p), p);
  });

  test('one client flooding costly estimates holds at most its share; another client is still served; no timeout refuses queued work', async () => {
    await strengthScore('warm up the worker', [], 'warm');
    const costly = (i: number) => `${'4@1!3$0|5+7(9[8{'.repeat(4)}${i}`;
    const flood = Array.from({ length: 64 }, (_, i) => strengthScore(costly(i), [], '203.0.113.9').then(() => 'ok', (e: Error) => e.message));
    const legit = await strengthScore('plum tractor velvet orbit', [], '198.51.100.7').then(() => 'ok', (e: Error) => e.message);
    assert.equal(legit, 'ok', 'another client is served behind the flood');
    const outcomes = await Promise.all(flood);
    assert.equal(outcomes.filter((o) => o === 'ok').length, 4, 'the flooding client holds at most 4 estimates');
    assert.equal(outcomes.filter((o) => o === 'password strength estimates saturated').length, 60);
    assert.ok(!outcomes.includes('password strength estimate timed out'));
  });
});
