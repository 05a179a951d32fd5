/**
 * The lockout admin API (src/admin/ratelimit.ts) against a real gateway: an IPv6 client is counted under its /64
 * (`counters.ipv6_prefix`), so listing and lifting by the client's full address maps it to that network; and the
 * login routes the API knows are those of the route table serving now — a reload that removes a login route drops
 * it, a rejected reload (even one that compiled login routes before failing) changes nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, READ_TOKEN, TEST_ENV } from './helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const op = (path: string, id: string, login = '{ account_field: username }') => `  ${path}:
    post:
      operationId: ${id}
      security: []
      x-rampart-login: ${login}
      requestBody:
        required: true
        content: { application/json: { schema: { type: object } } }
      responses: { '200': { description: ok }, '401': { description: no } }
`;
const spec = (ops: string) => `openapi: 3.1.0
info: { title: login, version: 1.0.0 }
paths:
${ops}`;

type Entry = Record<string, unknown>;

describe('lockout admin API', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{}');
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        logging: { level: 'info', access_log: false },
        upstreams: { main: { url: upstream.url } },
        apis: [
          {
            name: 'auth',
            spec: './login.yaml',
            upstream: 'main',
            validation: { additional_properties: 'allow' },
            response: { mode: 'off' },
            brute_force: { max_failures_ip: 3, max_failures_ip_account: 100, delay_after: 100 },
          },
        ],
        admin: ADMIN_CONFIG,
      },
      { files: { 'login.yaml': spec(op('/login', 'login') + op('/legacy/login', 'legacyLogin')) }, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const login = (path: string, ip: string, username = 'alice') =>
    send(gw.url, path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username, password: 'wrong' }) });
  const lockouts = async (query = ''): Promise<Entry[]> => {
    const res = await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts${query}`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: Entry[] }).items;
  };
  const lift = async (query: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts${query}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('an IPv6 lockout is listed and lifted by the client address, which maps to its /64', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login('/login', `2001:db8:1:2::${i + 1}`, `user${i}`)).status, 401);
    assert.equal((await login('/login', '2001:db8:1:2::99', 'other')).status, 429, 'the whole /64 is locked');
    assert.equal((await login('/login', '2001:db8:1:3::1', 'other')).status, 401, 'the next /64 is not');

    const listed = await lockouts('?ip=2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    assert.deepEqual(
      listed.filter((e) => e['kind'] === 'ip').map((e) => [e['route'], e['ip'], e['failures']]),
      [['auth:login', '2001:db8:1:2::', 3]],
    );
    assert.ok(listed.every((e) => e['ip'] === '2001:db8:1:2::'), 'only that network');
    assert.deepEqual(await lockouts('?ip=2001:db8:9::1'), []);
    assert.equal((await lift('?ip=not-an-ip')).status, 400);
    assert.equal((await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts?ip=nope`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).status, 400);

    const lifted = await lift('?ip=2001:db8:1:2::1');
    assert.equal(lifted.status, 200);
    assert.ok(Number(lifted.body['cleared']) >= 1, JSON.stringify(lifted.body));
    assert.equal((await login('/login', '2001:db8:1:2::99', 'other')).status, 401, 'lifted for the whole /64');
  });

  test('a reload that removes a login route drops it from the listing; a rejected reload keeps the table’s', async () => {
    assert.equal((await login('/legacy/login', '192.0.2.50')).status, 401);
    assert.ok((await lockouts()).some((e) => e['route'] === 'auth:legacyLogin'), 'listed while the route exists');
    assert.deepEqual([...gw.gateway.table.logins.keys()].sort(), ['auth:legacyLogin', 'auth:login']);

    writeFileSync(join(gw.dir, 'login.yaml'), spec(op('/login', 'login')));
    assert.equal(await gw.gateway.reload(), true);
    assert.deepEqual([...gw.gateway.table.logins.keys()], ['auth:login']);
    const after = await lockouts();
    assert.equal(after.some((e) => e['route'] === 'auth:legacyLogin'), false, 'its counters are still there, but no route of the table uses them');
    assert.ok(after.some((e) => e['route'] === 'auth:login'));

    // Brings the legacy route back, then fails on a later operation: that compile registered it, the table must not.
    writeFileSync(join(gw.dir, 'login.yaml'), spec(op('/login', 'login') + op('/legacy/login', 'legacyLogin') + op('/broken/login', 'brokenLogin', '{}')));
    assert.equal(await gw.gateway.reload(), false, 'rejected: x-rampart-login without account_field');
    assert.deepEqual([...gw.gateway.table.logins.keys()], ['auth:login']);
    const kept = await lockouts();
    assert.equal(kept.some((e) => e['route'] === 'auth:legacyLogin'), false);
    assert.ok(kept.some((e) => e['route'] === 'auth:login'));
    assert.equal((await lift('?ip=192.0.2.50')).body['cleared'], 0, 'nothing of the removed route is lifted either');
  });
});
