import assert from 'node:assert/strict';
import { loginSpec } from '../../../test/helpers/login-spec.ts';
import { after, before, describe, it } from 'node:test';
import { startDemoApi, type DemoApi } from '../../../demo/api/server.ts';
import type { SecurityEvent } from '../../bus/events.ts';
import { startGateway, type TestGateway } from '../../../test/helpers/gateway.ts';
import { eventually, send } from '../../../test/helpers/gateway-fixtures.ts';
import { ADMIN_TOKEN, READ_TOKEN, TEST_ENV } from '../../../test/helpers/apikeys.ts';

const LOGIN_SPEC = loginSpec({ routes: [['/auth/login', 'login']] });

const ATTACKER = '203.0.113.7';
const USER_IP = '198.51.100.2';

function login(gw: TestGateway, ip: string, username: string, password: string) {
  return send(gw.url, '/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ username, password }),
  });
}

describe('brute-force protection against the demo login', () => {
  let demo: DemoApi;
  let gw: TestGateway;
  const events: SecurityEvent[] = [];
  before(async () => {
    demo = await startDemoApi();
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        upstreams: { demo: { url: demo.url } },
        apis: [
          {
            name: 'demo',
            spec: './login.yaml',
            upstream: 'demo',
            validation: { additional_properties: 'allow' },
            response: { mode: 'off' },
            brute_force: {
              max_failures_ip_account: 4,
              max_failures_ip: 30,
              max_failures_account: 50,
              delay_after: 2,
              delay_base_ms: 5,
              max_delay_ms: 20,
              distinct_accounts_per_ip: 3,
              distinct_ips_per_account: 3,
            },
          },
        ],
        admin: { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }, { name: 'auditor', token: '${env:T_READ}', role: 'read_only' }] },
      },
      { files: { 'login.yaml': LOGIN_SPEC }, env: TEST_ENV },
    );
    gw.gateway.services.events?.on((e) => events.push(e));
  });
  after(async () => {
    await gw?.close();
    await demo?.close();
  });

  it('slows guessing, then locks the IP×account out; a legitimate login from another IP still works', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await login(gw, ATTACKER, 'alice', `guess-${i}`)).status, 401, `guess ${i}`);
    const delays = gw.logs.filter((l) => l['msg'] === 'brute-force delay').map((l) => l['delayMs']);
    assert.deepEqual(delays, [5, 10], 'attempts after delay_after failures were slowed, progressively');

    const locked = await login(gw, ATTACKER, 'alice', 'alice-pass');
    assert.equal(locked.status, 429);
    assert.equal(locked.headers['content-type'], 'application/problem+json');
    assert.equal(locked.json()['type'], 'https://rampart.dev/problems/account_locked');
    assert.ok(Number(locked.headers['retry-after']) > 60, 'Retry-After covers the lockout');
    assert.equal(JSON.stringify(locked.json()).includes('alice'), false);
    const lockoutLine = () => gw.logs.filter((l) => l['log'] === 'access' && l['code'] === 'account_locked').at(-1);
    assert.ok(await eventually(() => lockoutLine() !== undefined), 'access log line for the lockout');
    const record = lockoutLine()!;
    assert.equal(record['upstreamMs'], undefined, 'the upstream was not reached');

    const legit = await login(gw, USER_IP, 'alice', 'alice-pass');
    assert.equal(legit.status, 200, 'alice logs in from her own IP');
    assert.ok(events.some((e) => e.type === 'lockout' && e.ip === ATTACKER), 'a lockout event was raised');
    assert.equal(gw.rawLogs().includes('"alice"'), false, 'the account identifier is never logged in clear');
  });

  it('one IP failing on many accounts raises a credential-stuffing event', async () => {
    for (const user of ['bob', 'carol', 'nobody']) assert.equal((await login(gw, ATTACKER, user, 'wrong')).status, 401);
    assert.ok(events.some((e) => e.type === 'credential_stuffing' && e.ip === ATTACKER));
  });

  it('one account failing from many IPs raises a distributed brute-force event (account hashed)', async () => {
    for (const ip of ['192.0.2.10', '192.0.2.11']) assert.equal((await login(gw, ip, 'erin', 'wrong')).status, 401);
    assert.equal(events.some((e) => e.type === 'distributed_brute_force'), false, 'two IPs stay below the threshold');
    assert.equal((await login(gw, '192.0.2.12', 'erin', 'wrong')).status, 401);
    const event = events.find((e) => e.type === 'distributed_brute_force');
    assert.ok(event, 'the third distinct IP for one account raises the event');
    assert.equal(event.reason, 'many_ips_per_account');
    assert.equal(event.fields?.['ips'], 3);
    assert.notEqual(event.fields?.['account'], 'erin', 'the account is hashed in the event');
    assert.equal((await login(gw, USER_IP, 'erin', 'wrong')).status, 401, 'an event, not a lockout: the attempt still reaches the login');
  });

  it('lists lockouts (accounts hashed) and lifts them through the admin API', async () => {
    const listed = (await (await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).json()) as { items: Record<string, unknown>[] };
    const pair = listed.items.find((e) => e['kind'] === 'ipacct' && e['ip'] === ATTACKER && e['failures'] === 4);
    assert.ok(pair, 'the locked IP×account pair is listed');
    assert.notEqual(pair['account'], 'alice');
    const lifted = await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts?ip=${ATTACKER}&account=alice`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.deepEqual(await lifted.json(), { cleared: 1 });
    assert.equal((await login(gw, ATTACKER, 'alice', 'alice-pass')).status, 200);
  });
});
