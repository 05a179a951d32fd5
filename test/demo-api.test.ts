/**
 * The demo API is naive on purpose: these tests show each hole works when the API is called directly (no
 * Rampart in front), and that the demo IdP issues real ES256 tokens that verify against its JWKS across rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startDemoApi } from '../demo/api/server.ts';
import type { DemoApi } from '../demo/api/server.ts';
import { startIdp } from '../demo/idp/server.ts';
import type { Idp } from '../demo/idp/server.ts';

let api: DemoApi;
let idp: Idp;

async function passwordToken(username: string, password: string): Promise<Response> {
  return fetch(`${idp.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password }),
  });
}

async function tokenFor(username: string): Promise<string> {
  const res = await passwordToken(username, `${username}-pass`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

function call(path: string, token?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  return fetch(`${api.url}${path}`, { ...init, headers });
}

before(async () => {
  [api, idp] = await Promise.all([startDemoApi({ port: 0 }), startIdp({ port: 0 })]);
});

after(async () => {
  await Promise.all([api?.close(), idp?.close()]);
});

describe('demo API called directly (naive on purpose)', () => {
  test('health answers with banners', async () => {
    const res = await call('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    assert.equal(res.headers.get('server'), 'demo-api/1.0 (Node.js)');
    assert.equal(res.headers.get('x-powered-by'), 'DemoAPI');
  });

  test("BOLA: alice reads bob's order", async () => {
    const alice = await tokenFor('alice');
    const res = await call('/orders/ord-3', alice);
    assert.equal(res.status, 200);
    const order = (await res.json()) as Record<string, unknown>;
    assert.equal(order['ownerId'], 'u-bob');
    assert.equal(typeof order['internalNotes'], 'string');
  });

  test('GET /users/me leaks the password hash and internal notes', async () => {
    const alice = await tokenFor('alice');
    const res = await call('/users/me', alice);
    assert.equal(res.status, 200);
    const me = (await res.json()) as Record<string, unknown>;
    assert.equal(me['id'], 'u-alice');
    assert.match(String(me['passwordHash']), /^scrypt\$/);
    assert.equal(typeof me['internalNotes'], 'string');
  });

  test('mass assignment: PATCH /users/me with isAdmin and role sticks', async () => {
    const bob = await tokenFor('bob');
    const patch = await call('/users/me', bob, {
      method: 'PATCH',
      body: JSON.stringify({ isAdmin: true, role: 'admin', displayName: 'Bob (now admin)' }),
    });
    assert.equal(patch.status, 200);
    const me = (await (await call('/users/me', bob)).json()) as Record<string, unknown>;
    assert.equal(me['isAdmin'], true);
    assert.equal(me['role'], 'admin');
  });

  test('NoSQL-style operator in search returns every order', async () => {
    const alice = await tokenFor('alice');
    const all = (await (await call('/orders', alice)).json()) as unknown[];
    const one = await call('/orders/search', alice, { method: 'POST', body: JSON.stringify({ id: 'ord-1' }) });
    assert.equal(((await one.json()) as unknown[]).length, 1);
    const res = await call('/orders/search', alice, { method: 'POST', body: JSON.stringify({ id: { $ne: null } }) });
    assert.equal(res.status, 200);
    const found = (await res.json()) as unknown[];
    assert.ok(all.length >= 7);
    assert.equal(found.length, all.length);
  });

  test('accounts of every tenant, tenant secrets included', async () => {
    const res = await call('/accounts');
    const accounts = (await res.json()) as Array<Record<string, unknown>>;
    assert.deepEqual(new Set(accounts.map((a) => a['tenantId'])), new Set(['acme', 'globex']));
    assert.ok(accounts.every((a) => typeof a['tenantSecret'] === 'string'));
  });

  test('admin operation has no role check', async () => {
    const carol = await tokenFor('carol');
    const res = await call('/admin/users', carol);
    assert.equal(res.status, 200);
    assert.ok(((await res.json()) as unknown[]).length >= 4);
  });

  test('an unsigned (alg none) token is accepted: the API only decodes', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'u-admin' })).toString('base64url');
    const res = await call('/users/me', `${header}.${payload}.`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Record<string, unknown>)['isAdmin'], true);
  });

  test('no token on an endpoint that needs a caller is 401 JSON', async () => {
    const res = await call('/users/me');
    assert.equal(res.status, 401);
    assert.equal(typeof ((await res.json()) as Record<string, unknown>)['error'], 'string');
  });

  test("malformed JSON answers 500 with the parser's stack, banners included", async () => {
    const res = await call('/auth/login', undefined, { method: 'POST', body: '{"username": ' });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('x-powered-by'), 'DemoAPI');
    const body = (await res.json()) as Record<string, unknown>;
    assert.match(String(body['stack']), /SyntaxError[\s\S]*at /);
  });

  test('unknown route answers a verbose 404', async () => {
    const res = await call('/nope');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('server'), 'demo-api/1.0 (Node.js)');
    const body = (await res.json()) as Record<string, unknown>;
    assert.ok(Array.isArray(body['availableRoutes']));
  });

  test('login has no rate limit and returns the full user row', async () => {
    for (let i = 0; i < 5; i++) {
      const bad = await call('/auth/login', undefined, { method: 'POST', body: JSON.stringify({ username: 'alice', password: 'nope' }) });
      assert.equal(bad.status, 401);
      assert.equal(bad.headers.get('content-type'), 'application/problem+json');
      assert.deepEqual(await bad.json(), { type: 'about:blank', title: 'Unauthorized', status: 401, error: 'invalid credentials' });
    }
    const ok = await call('/auth/login', undefined, {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', password: 'alice-pass' }),
    });
    assert.equal(ok.status, 200);
    const { user } = (await ok.json()) as { user: Record<string, unknown> };
    assert.equal(user['id'], 'u-alice');
    assert.ok(user['passwordHash']);
  });

  test('POST /orders takes the owner from the token and accepts status from the client', async () => {
    const alice = await tokenFor('alice');
    const res = await call('/orders', alice, {
      method: 'POST',
      body: JSON.stringify({ accountId: 'acc-bob', item: 'Free lunch', quantity: 1, amount: 1, status: 'paid' }),
    });
    assert.equal(res.status, 201);
    const order = (await res.json()) as Record<string, unknown>;
    assert.equal(order['ownerId'], 'u-alice');
    assert.equal(order['status'], 'paid');
    assert.match(String(order['id']), /^ord-\d+$/);
  });

  test('/slow and /big', async () => {
    const slow = await call('/slow?ms=20');
    assert.deepEqual(await slow.json(), { sleptMs: 20 });
    const big = await call('/big?kb=8');
    const bytes = (await big.arrayBuffer()).byteLength;
    assert.ok(bytes >= 8 * 1024 && bytes < 9 * 1024, `got ${bytes} bytes`);
  });
});

describe('demo IdP', () => {
  test('discovery document points at its JWKS and token endpoint', async () => {
    const res = await fetch(`${idp.url}/.well-known/openid-configuration`);
    const doc = (await res.json()) as Record<string, unknown>;
    assert.equal(doc['issuer'], idp.issuer);
    assert.equal(doc['jwks_uri'], `${idp.url}/jwks`);
    assert.equal(doc['token_endpoint'], `${idp.url}/token`);
    assert.deepEqual(doc['id_token_signing_alg_values_supported'], ['ES256']);
  });

  test('JWKS serves public keys only, and a token verifies against it', async () => {
    const jwks = (await (await fetch(`${idp.url}/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
    assert.ok(jwks.keys.length >= 1);
    for (const key of jwks.keys) {
      assert.equal(key['kty'], 'EC');
      assert.equal(key['d'], undefined);
      assert.equal(typeof key['kid'], 'string');
    }
    const token = await tokenFor('admin');
    const header = decodeProtectedHeader(token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${idp.url}/jwks`)), {
      issuer: idp.issuer,
      audience: 'demo-api',
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });
    assert.equal(payload.sub, 'u-admin');
    assert.equal(payload['scope'], 'orders:read orders:write profile admin');
    assert.deepEqual(payload['roles'], ['admin', 'user']);
    assert.equal(payload['tenant'], 'acme');
    assert.equal(typeof payload.jti, 'string');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 900);
  });

  test('bad credentials are 400 invalid_grant', async () => {
    const res = await passwordToken('alice', 'wrong');
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'invalid_grant' });
    const unknown = await passwordToken('mallory', 'x');
    assert.equal(unknown.status, 400);
  });

  test('client_credentials for demo-cli', async () => {
    const res = await fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-cli', client_secret: 'demo-cli-secret' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['token_type'], 'Bearer');
    assert.equal(body['expires_in'], 900);
    const bad = await fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'demo-cli', client_secret: 'nope' }),
    });
    assert.equal(bad.status, 400);
  });

  test('key rotation keeps the previous kid published and old tokens valid', async () => {
    const oldToken = await tokenFor('alice');
    const oldKid = decodeProtectedHeader(oldToken).kid;
    const newKid = await idp.rotateKey();
    assert.notEqual(newKid, oldKid);
    const jwks = (await (await fetch(`${idp.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(String(oldKid)));
    assert.ok(kids.includes(newKid));

    const newToken = await tokenFor('alice');
    assert.equal(decodeProtectedHeader(newToken).kid, newKid);
    const keySet = createRemoteJWKSet(new URL(`${idp.url}/jwks`));
    const opts = { issuer: idp.issuer, audience: 'demo-api' };
    await jwtVerify(oldToken, keySet, opts);
    await jwtVerify(newToken, keySet, opts);

    const viaHttp = await fetch(`${idp.url}/rotate`, { method: 'POST' });
    assert.equal(viaHttp.status, 200);
    const { kid } = (await viaHttp.json()) as { kid: string };
    const after = (await (await fetch(`${idp.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    assert.deepEqual(
      after.keys.map((k) => k.kid),
      [kid, newKid],
    );
  });

  test('issueToken mints tokens directly, including expired ones for tests', async () => {
    const token = await idp.issueToken({ sub: 'u-carol', scope: 'profile' }, { ttlSeconds: -60 });
    const keySet = createRemoteJWKSet(new URL(`${idp.url}/jwks`));
    await assert.rejects(jwtVerify(token, keySet, { issuer: idp.issuer, audience: 'demo-api' }), {
      code: 'ERR_JWT_EXPIRED',
    });
  });
});
