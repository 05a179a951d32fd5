/**
 * The shipped demo/rampart.yaml, end to end: the real file (only its ports, upstream URL and IdP URL moved to
 * ephemeral ones) in front of the real demo API and demo IdP, with the secrets demo/start.ts generates. A few claims
 * of the README tour are replayed so the shipped config cannot rot.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { generate } from 'otplib';
import { Agent, fetch } from 'undici';
import { parse, stringify } from 'yaml';
import { startDemoApi, type DemoApi } from '../demo/api/server.ts';
import { startIdp, type Idp } from '../demo/idp/server.ts';
import { DEMO_SECRET_FILES, ensureDemoSecrets } from '../demo/secrets.ts';
import { runCheck } from '../src/cli/check.ts';
import { createLogger } from '../src/log.ts';
import { Gateway } from '../src/server/gateway.ts';

const DEMO_CONFIG = new URL('../demo/rampart.yaml', import.meta.url);
const SECRET_REF = /^\$\{(file|env):[^}]+\}$/;

interface DemoConfig {
  listen: { https: { port: number; cert: string }; http: { port: number }; admin: { port: number } };
  upstreams: { demo: { url: string } };
  admin: { tokens: { token: string }[] };
  apis: { auth: { jwt: { issuers: { issuer: string; jwks_url: string }[] } } }[];
}

let api: DemoApi;
let idp: Idp;
let gateway: Gateway;
let dir: string;
let base: string;
let adminBase: string;
let adminToken: string;
let dispatcher: Agent;

before(async () => {
  api = await startDemoApi();
  idp = await startIdp();
  dir = mkdtempSync(join(tmpdir(), 'rampart-demo-config-'));
  ensureDemoSecrets(join(dir, 'data'));
  copyFileSync(new URL('../demo/openapi.yaml', import.meta.url), join(dir, 'openapi.yaml'));
  const config = parse(readFileSync(DEMO_CONFIG, 'utf8')) as DemoConfig;
  config.listen.https.port = 0;
  config.listen.http.port = 0;
  config.listen.admin.port = 0;
  config.upstreams.demo.url = api.url;
  const issuer = config.apis[0]!.auth.jwt.issuers[0]!;
  issuer.issuer = idp.issuer;
  issuer.jwks_url = `${idp.url}/jwks`;
  writeFileSync(join(dir, 'rampart.yaml'), stringify(config));
  gateway = await Gateway.start({ configFile: join(dir, 'rampart.yaml'), logger: createLogger({ level: 'silent' }), watch: false });
  base = `https://localhost:${gateway.addresses.https}`;
  adminBase = `http://127.0.0.1:${gateway.addresses.admin}`;
  adminToken = readFileSync(join(dir, 'data', DEMO_SECRET_FILES.adminToken), 'utf8');
  // Trust exactly the certificate the gateway generated for itself (self_signed: true).
  dispatcher = new Agent({ connect: { ca: readFileSync(join(dir, 'data', 'tls.crt'), 'utf8') } });
});

after(async () => {
  await gateway?.stop(2000);
  await dispatcher?.close();
  await api?.close();
  await idp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & unknown[];
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Sent> {
  const headers = { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
  const res = await fetch(url, { ...init, headers, dispatcher: url.startsWith('https:') ? dispatcher : undefined, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers as unknown as Headers, body: (text ? JSON.parse(text) : {}) as Sent['body'] };
}

async function tokenOf(user: 'alice' | 'carol' | 'admin'): Promise<string> {
  const res = await fetch(`${idp.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: user, password: `${user}-pass` }) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const problemType = (res: Sent) => res.body['type'];

describe('the shipped demo/rampart.yaml', () => {
  test('keeps its secrets out of the file and the ports the README documents', () => {
    const config = parse(readFileSync(DEMO_CONFIG, 'utf8')) as DemoConfig;
    assert.ok(config.admin.tokens.length > 0);
    for (const t of config.admin.tokens) assert.match(t.token, SECRET_REF);
    assert.deepEqual([config.listen.https.port, config.listen.http.port, config.listen.admin.port], [8443, 8080, 8081]);
  });

  test('`rampart check` accepts it and reports the ownership rules and roles', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    assert.equal(await runCheck(join(dir, 'rampart.yaml'), out), 0);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.match(text, /getOrder\s.*response\.body\.ownerId == identity\.subject/);
    assert.match(text, /adminListUsers\s.*admin\s+admin/);
    assert.match(text, /config OK: 20 routes/);
    assert.match(text, /demo\s+searchProducts\s+block p1\s+query\/q/, 'the WAF report names the free-text search field');
  });

  test('a token from the demo IdP works through Rampart; no token is 401', async () => {
    const alice = await tokenOf('alice');
    const own = await call(`${base}/orders/ord-1`, { headers: bearer(alice) });
    assert.equal(own.status, 200);
    assert.equal(own.body['ownerId'], 'u-alice');
    assert.match(own.headers.get('ratelimit-policy') ?? '', /"burst"/);
    const anonymous = await call(`${base}/orders/ord-1`);
    assert.equal(anonymous.status, 401);
    assert.equal(problemType(anonymous), 'https://rampart.dev/problems/unauthorized');
  });

  test('BOLA: another user\'s order is 200 directly, 404 through Rampart', async () => {
    const alice = await tokenOf('alice');
    assert.equal((await call(`${api.url}/orders/ord-5`, { headers: bearer(alice) })).status, 200);
    const stopped = await call(`${base}/orders/ord-5`, { headers: bearer(alice) });
    assert.equal(stopped.status, 404);
    assert.equal(problemType(stopped), 'https://rampart.dev/problems/not_found');
    const accounts = await call(`${base}/accounts`, { headers: bearer(alice) });
    assert.equal(accounts.status, 200);
    assert.ok(accounts.body.length > 0 && accounts.body.every((a) => (a as { tenantId: string }).tenantId === 'acme'));
  });

  test('SQL injection in the free-text product search dumps password hashes directly, 403 through Rampart', async () => {
    const union = "zz' UNION SELECT id, username, passwordHash, 0 FROM users--";
    const naked = await call(`${api.url}/products?q=${encodeURIComponent(union)}`);
    assert.equal(naked.status, 200);
    assert.ok(JSON.stringify(naked.body).includes('scrypt'), 'the naked API returns password hashes');
    const stopped = await call(`${base}/products?q=${encodeURIComponent(union)}`);
    assert.equal(stopped.status, 403);
    assert.equal(problemType(stopped), 'https://rampart.dev/problems/injection_detected');
    // What shoppers type passes: words like "select" and "union", apostrophes.
    const benign = await call(`${base}/products?q=${encodeURIComponent("select the union nut")}`);
    assert.equal(benign.status, 200);
    const found = await call(`${base}/products?q=${encodeURIComponent('union nut')}`);
    assert.equal(found.status, 200);
    assert.deepEqual((found.body as unknown as { id: string }[]).map((p) => p.id), ['p-widget']);
    // An apostrophe reaches the naive API (the WAF lets it through) and breaks its SQL: the client sees a generic
    // 502, never the SQLite error.
    const apostrophe = await call(`${base}/products?q=${encodeURIComponent("you're")}`);
    assert.equal(apostrophe.status, 502);
    assert.ok(!JSON.stringify(apostrophe.body).includes('syntax'));
  });

  test('BFLA: the admin operation is 403 for a user, 200 for an admin', async () => {
    const [alice, admin] = await Promise.all([tokenOf('alice'), tokenOf('admin')]);
    assert.equal((await call(`${api.url}/admin/users`, { headers: bearer(alice) })).status, 200);
    const stopped = await call(`${base}/admin/users`, { headers: bearer(alice) });
    assert.equal(stopped.status, 403);
    const users = await call(`${base}/admin/users`, { headers: bearer(admin) });
    assert.equal(users.status, 200);
    assert.doesNotMatch(JSON.stringify(users.body), /passwordHash|internalNotes/);
  });

  test('mass assignment is 400 through Rampart; a legitimate profile update passes', async () => {
    const carol = await tokenOf('carol');
    const refused = await call(`${base}/users/me`, { method: 'PATCH', headers: bearer(carol), body: '{"role":"admin","isAdmin":true}' });
    assert.equal(refused.status, 400);
    assert.equal(problemType(refused), 'https://rampart.dev/problems/validation_failed');
    const ok = await call(`${base}/users/me`, { method: 'PATCH', headers: bearer(carol), body: '{"displayName":"Carol C."}' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body['isAdmin'], false);
    assert.equal(ok.body['passwordHash'], undefined);
  });

  test('an undeclared query parameter is 400', async () => {
    const alice = await tokenOf('alice');
    const res = await call(`${base}/orders?debug=true`, { headers: bearer(alice) });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body['errors'], [{ pointer: 'query/debug', message: 'is not a declared property' }]);
  });

  test('login: wrong passwords pass through as 401, then the account is locked (429)', async () => {
    const guess = (i: number) => call(`${base}/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'bob', password: `guess-${i}` }) });
    const statuses: number[] = [];
    for (let i = 0; i < 8 && statuses.at(-1) !== 429; i++) statuses.push((await guess(i)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    const right = await call(`${base}/auth/login`, { method: 'POST', body: '{"username":"bob","password":"bob-pass"}' });
    assert.equal(right.status, 429);
    assert.equal(problemType(right), 'https://rampart.dev/problems/account_locked');
  });

  test('step-up: deleting a user needs a TOTP login within 5 minutes; a password-only token and an admin API key get the RFC 9470 challenge', async () => {
    const target = `${base}/admin/users/u-carol`;
    const pwdOnly = await call(target, { method: 'DELETE', headers: bearer(await tokenOf('admin')) });
    assert.equal(pwdOnly.status, 401);
    assert.equal(problemType(pwdOnly), 'https://rampart.dev/problems/insufficient_user_authentication');
    assert.equal(pwdOnly.headers.get('www-authenticate'), 'Bearer realm="rampart", error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:rampart:acr:mfa", max_age="300"');

    const enroll = await fetch(`${idp.url}/mfa/enroll`, { method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'admin-pass' }) });
    assert.equal(enroll.status, 200);
    const { secret, otpauth_uri: uri } = (await enroll.json()) as { secret: string; otpauth_uri: string };
    assert.match(uri, /^otpauth:\/\/totp\//);
    const mfaToken = async (otp: string) =>
      fetch(`${idp.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: 'admin-pass', otp }) });
    assert.equal((await mfaToken('000000')).status, 400, 'a wrong code fails the grant');
    const code = await generate({ secret });
    const granted = await mfaToken(code);
    assert.equal(granted.status, 200);
    assert.equal((await mfaToken(code)).status, 400, 'a code is accepted once');
    const token = ((await granted.json()) as { access_token: string }).access_token;

    const adminKeyHolder = await call(`${adminBase}/admin/v1/consumers`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, body: '{"id":"ops-bot","name":"Ops bot","roles":["admin"]}' });
    assert.equal(adminKeyHolder.status, 201);
    const key = await call(`${adminBase}/admin/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, body: '{"consumer":"ops-bot","scopes":["admin"]}' });
    const byKey = await call(target, { method: 'DELETE', headers: { 'x-api-key': key.body['key'] as string } });
    assert.equal(byKey.status, 401, 'an API key never satisfies a second-factor requirement');
    assert.equal(problemType(byKey), 'https://rampart.dev/problems/insufficient_user_authentication');

    const stale = await idp.issueToken({ sub: 'u-admin', tenant: 'acme', roles: ['admin'], scope: 'admin', acr: 'urn:rampart:acr:mfa', amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) - 301 });
    assert.equal((await call(target, { method: 'DELETE', headers: bearer(stale) })).status, 401, 'a second factor older than max_age');

    const deleted = await fetch(target, { method: 'DELETE', headers: bearer(token), dispatcher, signal: AbortSignal.timeout(10_000) });
    assert.equal(deleted.status, 204);
  });

  test('self-service keys: bob creates a key with his token and reads his own profile with it; the key cannot mint keys', async () => {
    const bob = await fetch(`${idp.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: 'bob-pass' }) });
    const token = ((await bob.json()) as { access_token: string }).access_token;
    const created = await call(`${base}/me/api-keys`, { method: 'POST', headers: bearer(token), body: '{"name":"cli","scopes":["profile"]}' });
    assert.equal(created.status, 201);
    const key = created.body['key'] as string;
    const me = await call(`${base}/users/me`, { headers: { 'x-api-key': key } });
    assert.equal(me.status, 200);
    assert.equal(me.body['id'], 'u-bob');
    assert.deepEqual(created.body['scopes'], ['profile'], 'only the scope asked for');
    assert.equal((await call(`${base}/me/api-keys`, { method: 'POST', headers: { 'x-api-key': key }, body: '{}' })).status, 401);
  });

  test('the per-consumer token bucket answers 429 with Retry-After past its burst', async () => {
    const admin = await tokenOf('admin');
    let limited: Sent | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const res = await call(`${base}/orders`, { headers: bearer(admin) });
      if (res.status === 429) limited = res;
      else assert.equal(res.status, 200);
    }
    assert.ok(limited, 'no 429 within 40 requests');
    assert.equal(problemType(limited), 'https://rampart.dev/problems/rate_limited');
    assert.match(limited.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  });

  test('the admin API needs the generated token; an API key it issues carries the identity upstream', async () => {
    assert.equal((await call(`${adminBase}/admin/v1/consumers`)).status, 401);
    const admin = { authorization: `Bearer ${adminToken}` };
    const consumer = await call(`${adminBase}/admin/v1/consumers`, { method: 'POST', headers: admin, body: '{"id":"u-alice","name":"Alice (key)","tenant":"acme","roles":["user"]}' });
    assert.equal(consumer.status, 201);
    const key = await call(`${adminBase}/admin/v1/keys`, { method: 'POST', headers: admin, body: '{"consumer":"u-alice","scopes":["profile","orders:read"]}' });
    assert.equal(key.status, 201);
    // The naive API learns who calls only from Rampart's signed identity assertion (no bearer token here).
    const me = await call(`${base}/users/me`, { headers: { 'x-api-key': key.body['key'] as string } });
    assert.equal(me.status, 200);
    assert.equal(me.body['id'], 'u-alice');
    const other = await call(`${base}/orders/ord-5`, { headers: { 'x-api-key': key.body['key'] as string } });
    assert.equal(other.status, 404);
  });
});
