/**
 * The dashboard's side of the admin listener, over real HTTP against a real gateway: token login to a session
 * cookie, CSRF and origin checks on every change made with it (and the attacks: no token, a wrong one, another
 * origin, a cross-site fetch, a read-only session writing, a flood of failed logins), logout, the static files and
 * their headers, and the admin API routes the dashboard reads (traffic, event stream, routes, audit search, export
 * and verification, key reinstatement).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, KEYS_SPEC, READ_TOKEN, TEST_ENV, adminCall } from './helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { MAX_STREAMS, MAX_STREAMS_PER_CALLER } from '../src/admin/api/traffic-routes.ts';
import { LOGIN_FAILURES_PER_MINUTE } from '../src/admin/dashboard/routes.ts';

/** Read-only tokens of four more operators (the stream limits are per caller and per listener). */
const OPERATORS = [1, 2, 3, 4].map((i) => ({ name: `viewer${i}`, env: `T_VIEW${i}`, token: `viewer-${i}-`.padEnd(40, 'v') }));
const CONFIG = { tokens: [...ADMIN_CONFIG.tokens, ...OPERATORS.map((o) => ({ name: o.name, token: `\${env:${o.env}}`, role: 'read_only' }))] };
const ENV = { ...TEST_ENV, ...Object.fromEntries(OPERATORS.map((o) => [o.env, o.token])) };

interface Login {
  readonly cookie: string;
  readonly csrf: string;
  readonly setCookie: string;
}

describe('dashboard sessions and the admin routes it reads', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: Login;

  const call = (path: string, init: RequestInit = {}) => fetch(gw.adminUrl + path, init);

  async function login(token: string): Promise<Login> {
    const res = await call('/admin/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(res.status, 201);
    const setCookie = res.headers.get('set-cookie') ?? '';
    const body = (await res.json()) as { csrf_token: string };
    return { cookie: setCookie.split(';')[0]!, csrf: body.csrf_token, setCookie };
  }

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      { upstreams: { main: { url: upstream.url } }, admin: CONFIG, apis: [{ name: 'keys', spec: './keys.yaml', upstream: 'main', auth: { api_keys: true }, response: { mode: 'off' } }] },
      { files: { 'keys.yaml': KEYS_SPEC }, env: ENV },
    );
    admin = await login(ADMIN_TOKEN);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('login sets an HttpOnly, SameSite=Strict session cookie and answers who and the CSRF token', async () => {
    assert.match(admin.setCookie, /^rampart_admin_session=[A-Za-z0-9_-]{43}; /);
    assert.match(admin.setCookie, /HttpOnly/);
    assert.match(admin.setCookie, /SameSite=Strict/);
    assert.match(admin.setCookie, /Path=\//);
    const res = await call('/admin/v1/session', { headers: { cookie: admin.cookie } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['name'], 'ops');
    assert.equal(body['role'], 'admin');
    assert.equal(body['csrf_token'], admin.csrf);
  });

  test('refused logins: unknown token 401, not JSON 415, malformed 400, from another origin 403; nothing is set', async () => {
    const post = (body: string, headers: Record<string, string>) => call('/admin/v1/session', { method: 'POST', headers, body });
    const cases: [string, Record<string, string>, number][] = [
      [JSON.stringify({ token: 'x'.repeat(40) }), { 'content-type': 'application/json' }, 401],
      [`token=${ADMIN_TOKEN}`, { 'content-type': 'application/x-www-form-urlencoded' }, 415],
      ['{"token":', { 'content-type': 'application/json' }, 400],
      [JSON.stringify({ token: 42 }), { 'content-type': 'application/json' }, 400],
      [JSON.stringify({ token: ADMIN_TOKEN }), { 'content-type': 'application/json', origin: 'https://evil.example' }, 403],
      [JSON.stringify({ token: ADMIN_TOKEN }), { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, 403],
    ];
    for (const [body, headers, status] of cases) {
      const res = await post(body, headers);
      assert.equal(res.status, status, `${JSON.stringify(headers)} ${body}`);
      assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(res.headers.get('set-cookie'), null);
    }
  });

  test('a session reads like a bearer token; a change needs its CSRF token and the same origin', async () => {
    const read = await call('/admin/v1/consumers', { headers: { cookie: admin.cookie } });
    assert.equal(read.status, 200);
    const create = (headers: Record<string, string>, id: string) =>
      call('/admin/v1/consumers', { method: 'POST', headers: { cookie: admin.cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ id, name: id }) });
    const refused: [Record<string, string>, string][] = [
      [{}, 'no CSRF token'],
      [{ 'x-csrf-token': 'A'.repeat(43) }, 'a wrong CSRF token'],
      [{ 'x-csrf-token': admin.csrf.slice(0, -1) }, 'a truncated CSRF token'],
      [{ 'x-csrf-token': admin.csrf, origin: 'https://evil.example' }, 'another origin'],
      [{ 'x-csrf-token': admin.csrf, origin: 'null' }, 'an opaque origin'],
      [{ 'x-csrf-token': admin.csrf, 'sec-fetch-site': 'same-site' }, 'a sibling site'],
    ];
    for (const [headers, why] of refused) {
      const res = await create(headers, 'csrf-victim');
      assert.equal(res.status, 403, why);
      assert.equal(((await res.json()) as { type: string }).type, 'https://rampart.dev/problems/csrf_failed', why);
    }
    assert.equal((await adminCall(gw.adminUrl, 'GET', '/consumers/csrf-victim', READ_TOKEN)).status, 404, 'no refused change happened');
    const ok = await create({ 'x-csrf-token': admin.csrf, origin: gw.adminUrl, 'sec-fetch-site': 'same-origin' }, 'made-in-dashboard');
    assert.equal(ok.status, 201);
    const events = await adminCall(gw.adminUrl, 'GET', '/events', READ_TOKEN);
    const event = (events.json['items'] as { action: string; actor: string; target_id: string }[]).find((e) => e.target_id === 'made-in-dashboard');
    assert.equal(event?.actor, 'ops', 'the change is recorded with the operator (the token name)');
  });

  test('a read-only session may read but not change, even with its CSRF token', async () => {
    const reader = await login(READ_TOKEN);
    assert.equal((await call('/admin/v1/keys', { headers: { cookie: reader.cookie } })).status, 200);
    const res = await call('/admin/v1/consumers', { method: 'POST', headers: { cookie: reader.cookie, 'x-csrf-token': reader.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { type: string }).type, 'https://rampart.dev/problems/forbidden');
  });

  test('a forged or unknown cookie is a 401, never a fallback to anything else', async () => {
    for (const cookie of ['rampart_admin_session=' + 'A'.repeat(43), 'rampart_admin_session=../../etc', 'rampart_admin_session=', `rampart_admin_session=${'%'.repeat(9000)}`]) {
      const res = await call('/admin/v1/consumers', { headers: { cookie } });
      assert.equal(res.status, 401, cookie.slice(0, 40));
    }
  });

  test('logout needs the CSRF token, then the cookie is dead', async () => {
    const session = await login(ADMIN_TOKEN);
    assert.equal((await call('/admin/v1/session', { method: 'DELETE', headers: { cookie: session.cookie } })).status, 403);
    const out = await call('/admin/v1/session', { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await call('/admin/v1/consumers', { headers: { cookie: session.cookie } })).status, 401);
    assert.equal((await call('/admin/v1/session', { headers: { cookie: session.cookie } })).status, 401);
  });

  test('the dashboard files: a strict CSP, no framing, hashed assets cached, no path outside the build', async () => {
    const page = await call('/dashboard/');
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script);
    const js = await call(script);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await call(script, { method: 'HEAD' })).status, 200);
    for (const path of ['/dashboard/assets/..%2f..%2fpackage.json', '/dashboard/assets/%2e%2e%2findex.html', '/dashboard/assets/nope.js', '/dashboard/index.html', '/dashboard/assets/%zz']) {
      const res = await call(path);
      assert.ok(res.status === 404 || res.status === 400 || res.status === 401, `${path}: ${res.status}`);
      assert.doesNotMatch(await res.text(), /"name": "rampart"/);
    }
    const redirect = await call('/dashboard', { redirect: 'manual' });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get('location'), '/dashboard/');
  });

  test('traffic: requests and denies per code over time, top IPs; bounded windows', async () => {
    for (let i = 0; i < 5; i++) await fetch(`${gw.url}/items`); // 401 unauthorized: no key
    await fetch(`${gw.url}/public`);
    const res = await call('/admin/v1/traffic?window=60', { headers: { cookie: admin.cookie } });
    assert.equal(res.status, 200);
    const t = (await res.json()) as { requests: number; denied: number; denies: Record<string, number>; top_ips: { ip: string; requests: number }[]; series: unknown[]; latency_ms: { p50: number } };
    assert.ok(t.requests >= 6);
    assert.ok((t.denies['unauthorized'] ?? 0) >= 5, JSON.stringify(t.denies));
    assert.equal(t.top_ips[0]?.ip, '127.0.0.1');
    assert.equal(t.series.length, 6);
    assert.ok(t.latency_ms.p50 > 0);
    for (const window of ['0', '3601', '-5', '1e3', 'x']) assert.equal((await call(`/admin/v1/traffic?window=${window}`, { headers: { cookie: admin.cookie } })).status, 400, window);
  });

  test('the event stream: traffic snapshots, security events, at most MAX_STREAMS at once, ended with the session', async () => {
    const session = await login(ADMIN_TOKEN);
    const controllers: AbortController[] = [];
    const open = async (headers: Record<string, string>) => {
      const controller = new AbortController();
      controllers.push(controller);
      return fetch(`${gw.adminUrl}/admin/v1/stream`, { headers, signal: controller.signal });
    };
    try {
      const first = await open({ cookie: session.cookie });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('content-type'), 'text/event-stream');
      const reader = first.body!.getReader();
      let text = '';
      await fetch(`${gw.url}/items`, { headers: { 'x-api-key': 'rk_live_bogus' } }); // a denied request
      const deadline = Date.now() + 5000;
      while (!(text.includes('event: traffic') && text.includes('event: security')) && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
      assert.match(text, /event: traffic\ndata: \{/);
      assert.match(text, /event: security\ndata: .*"type":"deny".*"reason":"invalid_token"/);
      assert.doesNotMatch(text, /rk_live_bogus/, 'the presented key is never relayed');
      // One caller holds at most MAX_STREAMS_PER_CALLER (its session counts), so it cannot take every slot…
      for (let i = 1; i < MAX_STREAMS_PER_CALLER; i++) assert.equal((await open({ authorization: `Bearer ${ADMIN_TOKEN}` })).status, 200);
      assert.equal((await open({ authorization: `Bearer ${ADMIN_TOKEN}` })).status, 429, 'per caller');
      // …and the listener holds at most MAX_STREAMS.
      const callers = [READ_TOKEN, ...OPERATORS.map((o) => o.token)];
      const statuses: number[] = [];
      for (const token of callers) for (let i = 0; i < MAX_STREAMS_PER_CALLER; i++) statuses.push((await open({ authorization: `Bearer ${token}` })).status);
      assert.equal(statuses.filter((s) => s === 200).length, MAX_STREAMS - MAX_STREAMS_PER_CALLER);
      assert.ok(statuses.slice(MAX_STREAMS - MAX_STREAMS_PER_CALLER).every((s) => s === 429), 'per listener');
      // Logging out ends the session's stream at its next tick.
      await call('/admin/v1/session', { method: 'DELETE', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
      let rest = '';
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        rest += new TextDecoder().decode(chunk.value);
      }
      assert.match(rest, /event: session/);
    } finally {
      for (const c of controllers) c.abort();
    }
    assert.equal((await call('/readyz')).status, 200);
  });

  test('routes: the compiled table with authentication and unprotected operations flagged', async () => {
    const res = await call('/admin/v1/routes', { headers: { cookie: admin.cookie } });
    const body = (await res.json()) as { items: { operation: string; auth: string; unprotected: boolean; validation: boolean }[]; unprotected: number };
    const list = body.items.find((r) => r.operation === 'listItems');
    const open = body.items.find((r) => r.operation === 'publicInfo');
    assert.equal(list?.auth, 'apiKey');
    assert.equal(list?.unprotected, false);
    assert.equal(list?.validation, true);
    assert.equal(open?.unprotected, true);
    assert.equal(body.unprotected, 1);
  });

  test('audit: search newest first by type and text, pages, export as verifiable JSON lines, verify against the head', async () => {
    await gw.gateway.monitor.audit!.log.flush();
    const headers = { cookie: admin.cookie };
    const first = (await (await call('/admin/v1/audit/records?type=admin.consumer.create&limit=1', { headers })).json()) as { items: { seq: number; type: string; fields: Record<string, unknown> }[]; next: string | null };
    assert.equal(first.items.length, 1);
    assert.equal(first.items[0]!.type, 'admin.consumer.create');
    const text = (await (await call('/admin/v1/audit/records?text=made-in-dashboard', { headers })).json()) as { items: { fields: Record<string, unknown> }[] };
    assert.ok(text.items.some((r) => r.fields['actor'] === 'ops'));
    const all = (await (await call('/admin/v1/audit/records?limit=2', { headers })).json()) as { items: { seq: number }[]; next: string };
    assert.ok(all.items[0]!.seq > all.items[1]!.seq, 'newest first');
    const older = (await (await call(`/admin/v1/audit/records?limit=2&after=${all.next}`, { headers })).json()) as { items: { seq: number }[] };
    assert.ok(older.items[0]!.seq < all.items[1]!.seq);
    for (const bad of ['type=DROP%20TABLE', `text=${'x'.repeat(201)}`, 'since=yesterday', 'after=abc']) assert.equal((await call(`/admin/v1/audit/records?${bad}`, { headers })).status, 400, bad);

    const exported = await call('/admin/v1/audit/export', { headers });
    assert.equal(exported.status, 200);
    assert.match(exported.headers.get('content-disposition') ?? '', /attachment/);
    const lines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; prev_hash: string });
    for (let i = 1; i < lines.length; i++) assert.equal(lines[i]!.prev_hash, lines[i - 1]!.hash, 'the export is one unbroken chain');

    const [a, b] = await Promise.all([call('/admin/v1/audit/verify', { headers }), call('/admin/v1/audit/verify', { headers })]);
    const verified = (await a.json()) as { ok: boolean; records: number };
    assert.equal(verified.ok, true);
    assert.ok(verified.records >= lines.length);
    assert.equal(((await b.json()) as { ok: boolean }).ok, true);
  });

  test('reinstating a key: 404 for an unknown key, audited for a real one', async () => {
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/keys/nokey/reinstate', ADMIN_TOKEN, {})).status, 404);
    await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'reinstated', name: 'r' });
    const key = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'reinstated' });
    const res = await adminCall(gw.adminUrl, 'POST', `/keys/${key.json['id'] as string}/reinstate`, ADMIN_TOKEN, {});
    assert.equal(res.status, 200);
    assert.equal(res.json['reinstated'], true);
    assert.equal(res.json['key'], undefined, 'never the secret');
  });

  // Last: it exhausts this client's failed-login allowance.
  test(`failed logins past ${LOGIN_FAILURES_PER_MINUTE} a minute wait (429), even with the right token then`, async () => {
    for (let i = 0; i < LOGIN_FAILURES_PER_MINUTE; i++) {
      const res = await call('/admin/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: `wrong-${i}`.padEnd(40, 'w') }) });
      assert.ok(res.status === 401 || res.status === 429, `attempt ${i}: ${res.status}`);
    }
    const res = await call('/admin/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: ADMIN_TOKEN }) });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal((await call('/readyz')).status, 200);
  });
});
