/**
 * Login endpoints as they are: an app answering failed logins with `200 {"message": "Password is not correct"}`
 * (and `"User not found"` for unknown users) is locked out once its failure condition is configured, `check` warns
 * while it is not, and with uniform failures neither the body nor the timing tells whether an account exists.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { APP_SPEC, APP_USERS, startAppUpstream, type AppUpstream } from './helpers/app-upstream.ts';
import { problemOf, send } from './helpers/gateway-fixtures.ts';

let app: AppUpstream;
before(async () => {
  app = await startAppUpstream();
});
after(() => app?.close());

const FAILURE = { body: [{ pointer: '/message', matches: '^(Password is not correct|User not found)$' }] };

function config(login: Record<string, unknown> | undefined, spec = './shop.yaml'): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    upstreams: { shop: { url: app.url } },
    apis: [
      {
        name: 'shop',
        spec,
        upstream: 'shop',
        auth: { api_keys: true },
        response: { mode: 'off' },
        brute_force: { max_failures_ip_account: 3, max_failures_ip: 1000, max_failures_account: 1000, delay_after: 1000 },
        ...(login ? { operations: { login: { login: { account_field: 'username', ...login } } } } : {}),
      },
    ],
  };
}

const login = (gw: TestGateway, username: string, password: string, ip?: string) =>
  send(gw.url, '/login', { method: 'POST', headers: { 'content-type': 'application/json', ...(ip ? { 'x-forwarded-for': ip } : {}) }, body: JSON.stringify({ username, password }) });

async function withGateway(cfg: Record<string, unknown>, run: (gw: TestGateway) => Promise<void>, files: Record<string, string> = { 'shop.yaml': APP_SPEC }): Promise<void> {
  const gw = await startGateway(cfg, { files });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

describe('a login that answers failures with 200', () => {
  test('with the default failure condition: nothing is counted, and start-up warns naming the login', async () => {
    await withGateway(config(undefined), async (gw) => {
      for (let i = 0; i < 6; i++) assert.equal((await login(gw, 'alice', `guess-${i}`)).status, 200, 'never locked: failures look like successes');
      const warning = gw.logs.find((l) => String(l['msg']).includes('x-rampart-login on operation login: the failed-login condition matches none of the responses operation login declares (200)'));
      assert.ok(warning, 'start-up warns that failed logins are never counted');
      assert.equal(warning['level'], 'warn');
    });
  });

  test('with a body failure condition: locked out after 3 failures, the right password too, and parallel guesses cannot overshoot', async () => {
    await withGateway(config({ failure: FAILURE }), async (gw) => {
      assert.ok(!gw.logs.some((l) => String(l['msg']).includes('failed-login condition')), 'no warning once the condition can match');
      for (let i = 0; i < 3; i++) assert.equal((await login(gw, 'alice', `guess-${i}`)).status, 200);
      const locked = await login(gw, 'alice', APP_USERS['alice']!);
      assert.equal(locked.status, 429);
      assert.equal(problemOf(locked.json()).code, 'account_locked');
      const before = app.requests.filter((r) => r.path === '/login').length;
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => login(gw, 'admin', `guess-${i}`)));
      const reached = app.requests.filter((r) => r.path === '/login').length - before;
      assert.ok(reached <= 3, `at most 3 parallel guesses for one account reached the app (got ${reached})`);
      assert.ok(burst.filter((r) => r.status === 429).length >= 17);
    });
  });

  test('a success is not a failure: the token comes back and the pair\'s count is cleared', async () => {
    await withGateway(config({ failure: FAILURE }), async (gw) => {
      assert.equal((await login(gw, 'alice', 'wrong-1')).status, 200);
      assert.equal((await login(gw, 'alice', 'wrong-2')).status, 200);
      const ok = await login(gw, 'alice', APP_USERS['alice']!);
      assert.equal(ok.status, 200);
      assert.equal(typeof ok.json()['token'], 'string');
      for (let i = 0; i < 2; i++) assert.equal((await login(gw, 'alice', `again-${i}`)).status, 200, 'counting restarted after the success');
    });
  });

  test('an equals rule, a present rule limited to a status, and a status set', async () => {
    await withGateway(config({ failure: { status: [], body: [{ pointer: '/message', equals: 'Password is not correct' }] } }), async (gw) => {
      for (let i = 0; i < 3; i++) await login(gw, 'alice', `guess-${i}`);
      assert.equal((await login(gw, 'alice', 'x')).status, 429);
      for (let i = 0; i < 5; i++) assert.equal((await login(gw, 'ghost', `guess-${i}`)).status, 200, '"User not found" is not matched by this rule');
    });
    await withGateway(config({ failure: { body: [{ pointer: '/token', present: true, status: [201] }, { pointer: '/message', present: true, status: [200] }] } }), async (gw) => {
      for (let i = 0; i < 3; i++) await login(gw, 'alice', `guess-${i}`);
      assert.equal((await login(gw, 'alice', 'x')).status, 429);
    });
  });
});

describe('uniform failures', () => {
  test('an unknown user and a wrong password get the same generic 401, never before min_response_ms', async () => {
    await withGateway(config({ failure: FAILURE, uniform_failures: true, min_response_ms: 300 }), async (gw) => {
      const answers = [];
      for (const [user, password] of [['ghost', 'x'], ['alice', 'wrong'], ['nobody', 'y']] as const) {
        const started = performance.now();
        const res = await login(gw, user, password);
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 295, `answered after ${elapsed.toFixed(0)} ms`);
        assert.equal(res.status, 401);
        assert.equal(res.headers['content-type'], 'application/problem+json');
        const body = res.json();
        assert.equal(problemOf(body).code, 'login_failed');
        assert.ok(!JSON.stringify(body).includes('not'), 'the upstream message never reaches the client');
        answers.push({ ...body, requestId: undefined });
      }
      assert.deepEqual(answers[0], answers[1]);
      assert.deepEqual(answers[1], answers[2]);
      const ok = await login(gw, 'admin', APP_USERS['admin']!);
      assert.equal(ok.status, 200, 'a success passes unchanged');
      assert.equal(typeof ok.json()['token'], 'string');
    });
  });
});

describe('a malformed failure condition stops start-up naming where it is', () => {
  test('an invalid regular expression in the config', async () => {
    await assert.rejects(startGateway(config({ failure: { body: [{ pointer: '/message', matches: '(' }] } }), { files: { 'shop.yaml': APP_SPEC } }), /apis\[0\]\.operations\.login\.login\.failure\.body\[0\]\.matches: not a valid regular expression/);
  });

  test('a rule with two tests, or a bad pointer, in the spec extension', async () => {
    const bad = APP_SPEC.replace('x-rampart-login: { account_field: username }', "x-rampart-login: { account_field: username, failure: { body: [ { pointer: message, equals: x } ] } }");
    await assert.rejects(startGateway(config(undefined), { files: { 'shop.yaml': bad } }), /x-rampart-login on operation login at \/failure\/body\/0\/pointer/);
  });
});
