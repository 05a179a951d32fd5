/**
 * Minted upstream credentials (token exchange at the gateway), against an app that trusts any token signed with its
 * own weak HS256 key: a token forged with that key acts as the admin when sent to the app directly, and never
 * through Rampart with `upstream_credential` on, whatever else the client sends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { runCheck } from '../src/cli/check.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, adminCall, TEST_ENV } from './helpers/apikeys.ts';
import { APP_SPEC, appToken, startAppUpstream, type AppUpstream } from './helpers/app-upstream.ts';
import { send } from './helpers/gateway-fixtures.ts';

let app: AppUpstream;
before(async () => {
  app = await startAppUpstream();
});
after(() => app?.close());

const ENV = { ...TEST_ENV, APP_JWT_SECRET: 'secret123', OTHER_APP_SECRET: 'secret456', ALICE_UPSTREAM: 'alice-static-credential' };

function config(credential: Record<string, unknown>): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    admin: ADMIN_CONFIG,
    upstreams: { shop: { url: app.url } },
    apis: [{ name: 'shop', spec: './shop.yaml', upstream: 'shop', auth: { api_keys: true }, response: { mode: 'off' }, upstream_credential: credential }],
  };
}

async function keyFor(gw: TestGateway, consumer: string): Promise<string> {
  assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: consumer, name: consumer })).status, 201);
  const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer, scopes: [] });
  assert.equal(created.status, 201);
  return String(created.json['key']);
}

describe('minted JWT for the upstream', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config({ jwt: { algorithm: 'HS256', key: '${env:APP_JWT_SECRET}', ttl_seconds: 120, claims: { sub: 'identity.consumer' } } }), { files: { 'shop.yaml': APP_SPEC }, env: ENV });
  });
  after(() => gw?.close());

  test('the forged admin token works against the app directly (the attack is real)', async () => {
    const forged = await appToken('admin');
    const direct = await send(app.url, '/admin/users', { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(direct.status, 200);
  });

  test('through Rampart: a forged token alone is refused; with a user key it is replaced by the user\'s minted token', async () => {
    const forged = await appToken('admin');
    assert.equal((await send(gw.url, '/admin/users', { headers: { authorization: `Bearer ${forged}` } })).status, 401);
    const alice = await keyFor(gw, 'alice');
    const variants: Record<string, string | string[]>[] = [
      { 'x-api-key': alice, authorization: `Bearer ${forged}` },
      { 'x-api-key': alice, authorization: [`Bearer ${forged}`, `Bearer ${forged}`] },
      { 'x-api-key': alice, Authorization: `Bearer ${forged}`, 'proxy-authorization': `Bearer ${forged}` },
    ];
    for (const headers of variants) {
      const res = await send(gw.url, '/admin/users', { headers });
      assert.equal(res.status, 403, 'the app sees alice, not admin');
      const seen = app.authorizations.at(-1)!;
      assert.notEqual(seen, `Bearer ${forged}`);
      assert.equal(decodeJwt(seen.slice(7)).sub, 'alice');
    }
    const me = await send(gw.url, '/me', { headers: { 'x-api-key': alice } });
    assert.equal(me.status, 200);
    assert.deepEqual(me.json(), { sub: 'alice' });
    const last = app.requests.at(-1)!;
    assert.equal(last.headers['x-api-key'], undefined, 'the client\'s API key is not forwarded');
    const claims = decodeJwt(String(last.headers.authorization).slice(7));
    assert.equal(claims.exp! - claims.iat!, 120);
    assert.deepEqual(Object.keys(claims).sort(), ['exp', 'iat', 'sub']);
  });

  test('the legitimate admin consumer gets through; a public route never forwards the client\'s token', async () => {
    const admin = await keyFor(gw, 'admin');
    assert.equal((await send(gw.url, '/admin/users', { headers: { 'x-api-key': admin } })).status, 200);
    const forged = await appToken('admin');
    const pub = await send(gw.url, '/public', { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(pub.status, 200);
    assert.deepEqual(pub.json(), { authorization: null }, 'anonymous request: stripped, nothing minted');
  });

  test('HEAD and parallel requests of different consumers each carry their own minted identity', async () => {
    const bob = await keyFor(gw, 'bob');
    const carol = await keyFor(gw, 'carol');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => send(gw.url, '/me', { headers: { 'x-api-key': i % 2 ? bob : carol } })));
    results.forEach((r, i) => assert.deepEqual(r.json(), { sub: i % 2 ? 'bob' : 'carol' }));
    const head = await send(gw.url, '/me', { method: 'HEAD', headers: { 'x-api-key': bob, authorization: `Bearer ${await appToken('admin')}` } });
    assert.equal(head.status, 200);
    assert.equal(decodeJwt(app.authorizations.at(-1)!.slice(7)).sub, 'bob');
  });

  test('an owner lookup calls the upstream with the minted credential too, never the client\'s forged one', async () => {
    const forged = await appToken('admin');
    const key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'alice', scopes: [] })).json['key']);
    const from = app.requests.length;
    const put = (id: string) => send(gw.url, `/notes/${id}`, { method: 'PUT', headers: { 'x-api-key': key, authorization: `Bearer ${forged}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal((await put('note-b')).status, 404, 'bob\'s note is not visible to alice: the lookup ran as alice');
    assert.equal((await put('note-a')).status, 200);
    const seen = app.requests.slice(from);
    assert.ok(seen.length >= 3, 'two lookups and one update reached the app');
    for (const r of seen) assert.equal(decodeJwt(String(r.headers.authorization).slice(7)).sub, 'alice', `${r.path} carried alice's minted token`);
  });

  test('check and start-up warn that the upstream trusts a weak key', () => {
    assert.ok(gw.logs.some((l) => String(l['msg']).includes('apis[0].upstream_credential.jwt.key: the upstream trusts a 72-bit HS256 secret')));
  });
});

describe('static per-consumer credential', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config({ static: { header: 'authorization', prefix: 'Token ', consumers: { alice: '${env:ALICE_UPSTREAM}' } } }), { files: { 'shop.yaml': APP_SPEC }, env: ENV });
  });
  after(() => gw?.close());

  test('a consumer with a credential gets it in place of whatever it sent; one without is refused before the upstream', async () => {
    const alice = await keyFor(gw, 'alice');
    const before = app.requests.length;
    await send(gw.url, '/me', { headers: { 'x-api-key': alice, authorization: 'Bearer forged' } });
    assert.equal(app.authorizations.at(-1), 'Token alice-static-credential');
    const mallory = await keyFor(gw, 'mallory');
    const refused = await send(gw.url, '/me', { headers: { 'x-api-key': mallory, authorization: 'Bearer forged' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(app.requests.length, before + 1, 'the refused request never reached the app');
  });
});

describe('misconfiguration stops start-up naming the config path', () => {
  for (const [name, credential, pattern] of [
    ['both kinds', { jwt: { algorithm: 'HS256', key: '${env:APP_JWT_SECRET}' }, static: { consumers: { a: '${env:ALICE_UPSTREAM}' } } }, /apis\[0\]\.upstream_credential: set exactly one of jwt or static/],
    ['a reserved header', { jwt: { algorithm: 'HS256', key: '${env:APP_JWT_SECRET}', header: 'host' } }, /upstream_credential\.jwt\.header: "host" is set by the proxy/],
    ['an HMAC secret for ES256', { jwt: { algorithm: 'ES256', key: '${env:APP_JWT_SECRET}' } }, /upstream_credential\.jwt\.key: not a PEM private key/],
    ['a literal key', { jwt: { algorithm: 'HS256', key: 'secret123' } }, /upstream_credential\.jwt\.key/],
  ] as const) {
    test(name, async () => {
      await assert.rejects(startGateway(config(credential as Record<string, unknown>), { files: { 'shop.yaml': APP_SPEC }, env: ENV }), pattern);
    });
  }
});

test('`rampart check` prints a warning for a weak app secret, a weak minting key and a login that never fails, every time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-check-'));
  writeFileSync(join(dir, 'shop.yaml'), APP_SPEC);
  const appIssuer = { issuer: 'shop-app', require: ['exp', 'iat', 'sub'], secret: '${env:OTHER_APP_SECRET}', algorithms: ['HS256'], allow_weak_secret: true };
  const cfg = config({ jwt: { algorithm: 'HS256', key: '${env:APP_JWT_SECRET}' } }) as { apis: Record<string, unknown>[] };
  cfg.apis[0]!['auth'] = { api_keys: true, jwt: { issuers: [appIssuer] } };
  writeFileSync(join(dir, 'rampart.yaml'), stringify({ ...cfg, listen: { http: { port: 0, host: '127.0.0.1', insecure: true } }, store: { path: join(dir, 'store.db') } }));
  const saved = { ...process.env };
  Object.assign(process.env, ENV);
  try {
    for (let run = 0; run < 2; run++) {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      assert.equal(await runCheck(join(dir, 'rampart.yaml'), out), 0);
      const text = Buffer.concat(chunks).toString('utf8');
      assert.match(text, /warning: apis\[0\]\.auth\.jwt\.issuers\[0\]\.secret: HS256 secret is 72 bits/);
      assert.match(text, /warning: apis\[0\]\.upstream_credential\.jwt\.key: the upstream trusts a 72-bit HS256 secret/);
      assert.match(text, /warning: x-rampart-login on operation login: the failed-login condition matches none of the responses operation login declares \(200\)/);
      assert.match(text, /config OK: \d+ routes, 3 warning\(s\)/);
    }
  } finally {
    process.env = saved;
  }
});
