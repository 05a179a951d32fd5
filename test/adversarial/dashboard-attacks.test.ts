/**
 * The admin dashboard and its admin API routes attacked through real gateways (red-team pass; every test here
 * asserts the secure behaviour, so it fails until the finding is fixed):
 *
 * - the admin session cookie is a host cookie, and cookies do not isolate ports: a browser sends it to the data
 *   plane on the same host, which forwards it to upstreams; an upstream's `Set-Cookie: rampart_admin_session=…` goes
 *   back to the browser and shadows the operator's own session on the admin listener (cookie tossing);
 * - a request with two session cookies is judged by the first one;
 * - removing an admin token from the config and reloading leaves the token, and the sessions it opened, working;
 * - any read-only token holder can end every operator's session (256 logins evict them, least recently used first);
 * - the failed-login limiter forgets a blocked client once 1024 other addresses have failed once;
 * - a leap-second date-time (valid RFC 3339) in an audit query is a 500, not a 400;
 * - the audit export's `text` filter does not match what the search with the same filter shows.
 *
 * Loopback only; every loop is bounded in count and time. Each test checks the admin listener still answers /readyz.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import type { Browser } from 'playwright-core';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertAlive } from '../helpers/http.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, READ_TOKEN, TEST_ENV, adminCall } from '../helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { launchChromium } from '../helpers/dashboard-stack.ts';
import { LOGIN_FAILURES_PER_MINUTE } from '../../src/admin/dashboard/routes.ts';
import { MAX_SESSIONS, SESSION_COOKIE } from '../../src/admin/dashboard/sessions.ts';

interface Login {
  readonly cookie: string;
  readonly id: string;
  readonly csrf: string;
}

async function loginAt(adminUrl: string, token: string): Promise<Login> {
  const res = await fetch(`${adminUrl}/admin/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  assert.equal(res.status, 201, 'login');
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  const body = (await res.json()) as { csrf_token: string };
  return { cookie, id: cookie.slice(cookie.indexOf('=') + 1), csrf: body.csrf_token };
}

/** Who the admin listener thinks the cookie header belongs to: `status name`. */
async function whoAmI(adminUrl: string, cookie: string): Promise<{ status: number; name: string | undefined }> {
  const res = await fetch(`${adminUrl}/admin/v1/session`, { headers: { cookie } });
  const body = (await res.json()) as { name?: string };
  return { status: res.status, name: res.ok ? body.name : undefined };
}

/** A login attempt sent from a given loopback source address (Linux answers the whole of 127.0.0.0/8). */
function loginFrom(adminUrl: string, localAddress: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ token });
    const req = request(`${adminUrl}/admin/v1/session`, { method: 'POST', localAddress, agent: false, timeout: 5000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('login timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('dashboard attacks on one gateway (data plane, admin listener, audit)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let browser: Browser | undefined;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway({ upstreams: { up: { url: up.url } }, apis: [{ name: 'shop', passthrough: true, upstream: 'up', base_path: '/shop' }], admin: ADMIN_CONFIG }, { env: TEST_ENV });
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
    await up?.close();
  });

  test('the data plane does not forward the admin session cookie to an upstream (cookies do not isolate ports)', async () => {
    const ops = await loginAt(gw.adminUrl, ADMIN_TOKEN);
    up.handler = undefined;
    const res = await fetch(`${gw.url}/shop/profile`, { headers: { cookie: `theme=dark; ${ops.cookie}` } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const seen = up.seen.at(-1)?.headers.cookie ?? '';
    // An upstream (or whatever logs its request headers) holding this id holds an admin session: with it,
    // GET /admin/v1/session hands out the CSRF token too.
    assert.doesNotMatch(seen, new RegExp(ops.id), `the upstream received the operator's admin session cookie: ${seen}`);
    assert.match(seen, /theme=dark/, "the API's own cookies still pass");
    await assertAlive(gw.adminUrl);
  });

  test('an upstream cannot set the admin session cookie through the data plane (cookie tossing)', async () => {
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': [`${SESSION_COOKIE}=${'A'.repeat(43)}; Path=/admin/v1`, 'theme=dark; Path=/'] });
      res.end('ok');
    };
    try {
      const res = await fetch(`${gw.url}/shop/promo`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const cookies = res.headers.getSetCookie();
      assert.ok(
        cookies.every((c) => !c.trim().toLowerCase().startsWith(`${SESSION_COOKIE}=`)),
        `the data plane relayed a Set-Cookie for the admin listener's session cookie: ${JSON.stringify(cookies)}`,
      );
    } finally {
      up.handler = undefined;
    }
    await assertAlive(gw.adminUrl);
  });

  test('two session cookies in one request are refused, not judged by whichever comes first', async () => {
    const ops = await loginAt(gw.adminUrl, ADMIN_TOKEN);
    const planted = await loginAt(gw.adminUrl, READ_TOKEN);
    // A browser lists the cookie with the longer Path first: a `Path=/admin/v1` cookie planted from another port
    // of the same host comes before the operator's own `Path=/` one.
    const both = await whoAmI(gw.adminUrl, `${planted.cookie}; ${ops.cookie}`);
    assert.equal(both.status, 401, `a request with two session cookies was taken as ${both.name}'s session`);
    await assertAlive(gw.adminUrl);
  });

  test('in a browser: a cookie planted through the data plane does not make the operator act as someone else', async () => {
    // The attacker logs in with a read-only token it holds and has an upstream of the data plane plant that
    // session in the operator's browser (same host, another port).
    const planted = await loginAt(gw.adminUrl, READ_TOKEN);
    up.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'set-cookie': `${SESSION_COOKIE}=${planted.id}; Path=/admin/v1; HttpOnly` });
      res.end('<!doctype html><title>promo</title><p>Spring sale</p>');
    };
    try {
      browser = await launchChromium();
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${gw.url}/shop/promo`);
      await page.goto(`${gw.adminUrl}/dashboard/`);
      // The operator logs in with the admin token (when the page asks for one: with the planted cookie it may open
      // already logged in, as the attacker).
      await page.locator('#token, nav[aria-label="Dashboard"]').first().waitFor({ timeout: 10_000 });
      if (await page.locator('#token').isVisible()) {
        await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
        await page.getByRole('button', { name: 'Log in' }).click();
      }
      await page.getByRole('navigation', { name: 'Dashboard' }).waitFor({ timeout: 10_000 });
      const shown = (await page.locator('.who').textContent({ timeout: 5000 })) ?? '';
      const seen = (await page.evaluate(async () => {
        const res = await fetch('/admin/v1/session');
        return { status: res.status, body: (await res.json()) as { name?: string } };
      })) as { status: number; body: { name?: string } };
      assert.doesNotMatch(shown, /auditor/, `the dashboard opened as the attacker's session: "${shown.trim()}"`);
      assert.notEqual(seen.body.name, 'auditor', `the dashboard's API calls run as the attacker's session (${JSON.stringify(seen)})`);
    } finally {
      up.handler = undefined;
    }
    await assertAlive(gw.adminUrl);
  });

  test('a leap-second date-time (valid RFC 3339) in an audit query is a 400, not an internal error', async () => {
    for (const path of ['/audit/records?since=2016-12-31T23:59:60Z', '/audit/export?until=2016-12-31T23:59:60Z']) {
      const res = await fetch(`${gw.adminUrl}/admin/v1${path}`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
      const body = (await res.json()) as { type: string };
      assert.equal(res.status, 400, `${path}: ${res.status} ${body.type}`);
    }
    await assertAlive(gw.adminUrl);
  });

  test('the audit export with a text filter holds the records the search with the same filter shows', async () => {
    const made = await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'casecheck-target', name: 'casecheck' });
    assert.equal(made.status, 201);
    await gw.gateway.monitor.audit!.log.flush();
    const headers = { authorization: `Bearer ${READ_TOKEN}` };
    const filter = 'text=CASECHECK-TARGET';
    const search = (await (await fetch(`${gw.adminUrl}/admin/v1/audit/records?${filter}&limit=500`, { headers })).json()) as { items: { seq: number }[] };
    assert.ok(search.items.length > 0, 'the search finds the consumer creation');
    const exported = (await (await fetch(`${gw.adminUrl}/admin/v1/audit/export?${filter}`, { headers })).text()).split('\n').filter(Boolean);
    assert.deepEqual(
      exported.map((l) => (JSON.parse(l) as { seq: number }).seq).sort((a, b) => a - b),
      search.items.map((r) => r.seq).sort((a, b) => a - b),
      '"export what matches" (docs/dashboard.md): the export holds the records the search showed',
    );
    await assertAlive(gw.adminUrl);
  });

  // Ends every session on this gateway: after the tests that need one.
  test(`a read-only token holder cannot end an admin's session by opening ${MAX_SESSIONS} sessions`, async () => {
    const ops = await loginAt(gw.adminUrl, ADMIN_TOKEN);
    for (let i = 0; i < MAX_SESSIONS; i++) await loginAt(gw.adminUrl, READ_TOKEN);
    const still = await whoAmI(gw.adminUrl, ops.cookie);
    assert.equal(still.status, 200, `the admin's session was evicted by ${MAX_SESSIONS} read-only logins (a locked-out operator in the middle of an incident)`);
    assert.equal(still.name, 'ops');
    await assertAlive(gw.adminUrl);
  });

  // Last: it spends failed-login allowances.
  test('a blocked client stays blocked when many other addresses fail once each (limiter map flood)', async () => {
    const attacker = '127.0.0.10';
    for (let i = 0; i < LOGIN_FAILURES_PER_MINUTE; i++) assert.equal(await loginFrom(gw.adminUrl, attacker, `guess-${i}`.padEnd(40, 'g')), 401);
    assert.equal(await loginFrom(gw.adminUrl, attacker, 'guess-x'.padEnd(40, 'g')), 429, 'blocked after the allowance');
    // 1100 addresses in 127.0.1.0 – 127.0.5.x fail once each (the same trick over IPv6 needs one /64).
    const started = Date.now();
    const others = Array.from({ length: 1100 }, (_, n) => `127.0.${1 + (n >> 8)}.${n & 255}`);
    for (let b = 0; b < others.length && Date.now() - started < 30_000; b += 50) {
      await Promise.all(others.slice(b, b + 50).map((ip) => loginFrom(gw.adminUrl, ip, 'flood'.padEnd(40, 'f'))));
    }
    const after = await loginFrom(gw.adminUrl, attacker, 'guess-y'.padEnd(40, 'g'));
    assert.equal(after, 429, `the blocked client got a fresh allowance after the flood (answered ${after})`);
    await assertAlive(gw.adminUrl);
  });
});

describe('dashboard sessions after an admin token is removed from the config', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startGateway({ upstreams: { up: { url: up.url } }, apis: [{ name: 'shop', passthrough: true, upstream: 'up' }], admin: ADMIN_CONFIG }, { env: TEST_ENV });
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('removing the token and reloading ends the sessions it opened (and the token itself)', async () => {
    const ops = await loginAt(gw.adminUrl, ADMIN_TOKEN);
    assert.equal((await whoAmI(gw.adminUrl, ops.cookie)).status, 200);
    // The operator revokes the leaked `ops` token: only the read-only one stays. The reload is applied.
    const config = parse(readFileSync(gw.configFile, 'utf8')) as { admin: { tokens: { name: string }[] } };
    config.admin.tokens = config.admin.tokens.filter((t) => t.name !== 'ops');
    writeFileSync(gw.configFile, stringify(config));
    assert.equal(await gw.gateway.reload(), true, 'the reload is applied');
    const session = await whoAmI(gw.adminUrl, ops.cookie);
    assert.equal(session.status, 401, `the removed token's dashboard session still works after the reload (as ${session.name})`);
    const bearer = await adminCall(gw.adminUrl, 'GET', '/consumers', ADMIN_TOKEN);
    assert.equal(bearer.status, 401, 'the removed token still works as a bearer token after the reload');
    await assertAlive(gw.adminUrl);
  });
});
