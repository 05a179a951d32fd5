/**
 * Password policy on the wire: registration and password-change fields marked `x-rampart-password` are checked before
 * the upstream sees them (length, not the username or email, not a breached password, zxcvbn strength), a refusal
 * names the field and the rule and never echoes the value, and a flood of costly passwords never stalls the gateway.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestGateway } from './helpers/gateway.ts';
import type { TestUpstream } from './helpers/upstream.ts';
import { startSpecGateway, type SpecGateway } from './helpers/spec-gateway.ts';
import { send } from './helpers/gateway-fixtures.ts';

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
              additionalProperties: false
              required: [username, email, password]
              properties:
                username: { type: string, maxLength: 64 }
                email: { type: string, maxLength: 128 }
                password: { type: string, maxLength: 512, x-rampart-password: true }
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties:
                username: { type: string }
                password: { type: string, x-rampart-password: true }
      responses: { '201': { description: created } }
  /password:
    put:
      operationId: changePassword
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                username: { type: string }
                change:
                  type: object
                  properties:
                    current: { type: string }
                    next: { type: string, x-rampart-password: true }
      responses: { '204': { description: done } }
`;

let upstream: TestUpstream;
let gw: TestGateway;
let stack: SpecGateway | undefined;
before(async () => {
  stack = await startSpecGateway(SPEC);
  ({ gw, upstream } = stack);
});
after(() => stack?.close());

const register = (body: Record<string, unknown>) => send(gw.url, '/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('password policy', () => {
  test('each rule refuses with a 400 naming the field and the rule, never the value, before the upstream', async () => {
    const seen = upstream.seen.length;
    for (const [password, rule] of [
      ['short-pw', /is too short \(at least 12 characters\)/],
      ['x'.repeat(300), /is too long/],
      ['alice.anders', /must not be the account's name or email/],
      ['ALICE.ANDERS', /must not be the account's name or email/],
      ['qwertyuiop123', /appears in lists of breached passwords/],
      ['aaaaaaaaaaaaaaaa', /is too easy to guess/],
      ['alice.anders2026', /is too easy to guess/],
    ] as const) {
      const res = await register({ username: 'alice.anders', email: 'alice.anders@acme.example', password });
      assert.equal(res.status, 400, password);
      const body = res.json() as { type: string; errors: { pointer: string; message: string }[] };
      assert.equal(body.type, 'https://rampart.dev/problems/validation_failed');
      assert.equal(body.errors[0]!.pointer, 'body/password');
      assert.match(body.errors[0]!.message, rule, password);
      assert.ok(!res.body.includes(password), 'the password is never echoed');
    }
    assert.equal(upstream.seen.length, seen, 'nothing reached the upstream');
  });

  test('a strong password passes; so does a form body, and a nested field is checked too', async () => {
    assert.equal((await register({ username: 'bob', email: 'bob@acme.example', password: 'correct horse battery staple' })).status, 200);
    const form = await send(gw.url, '/register', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=bob&password=qwertyuiop123' });
    assert.equal(form.status, 400);
    const nested = await send(gw.url, '/password', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', change: { current: 'x', next: 'bob' } }) });
    assert.equal(nested.status, 400);
    assert.equal((nested.json() as { errors: { pointer: string }[] }).errors[0]!.pointer, 'body/change/next');
    const ok = await send(gw.url, '/password', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', change: { current: 'x', next: 'plum tractor velvet orbit' } }) });
    assert.equal(ok.status, 200);
  });

  test('a flood of costly passwords is answered (400 or 503) while health checks keep answering', async () => {
    const costly = ['1q2w3e4r5t6y7u8i9o0p'.repeat(4), 'x7$Kp!2vQz@9mLr#'.repeat(4), 'aA1!'.repeat(16)];
    const flood = Array.from({ length: 120 }, (_, i) => register({ username: `u${i}`, email: `u${i}@x.example`, password: `${costly[i % 3]}${i}` }));
    const health = await send(gw.adminUrl, '/healthz');
    assert.equal(health.status, 200, 'the event loop is free while estimates run on the worker');
    const results = await Promise.all(flood);
    for (const r of results) assert.ok([200, 400, 503].includes(r.status), `status ${r.status}`);
    assert.ok(results.every((r) => r.status !== 500));
  });
});
