/**
 * JWT authentication through a real gateway in front of a real upstream, with a real local issuer serving its JWKS
 * over HTTP: the attack-token suite (each 401, upstream never reached), valid tokens, public routes, query tokens,
 * and key rotation (test issuer and the demo IdP).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPublicKey, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { problemOf, send } from './helpers/gateway-fixtures.ts';
import { startIdp, type Idp } from '../demo/idp/server.ts';

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
security:
  - bearer: []
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /public:
    get:
      operationId: publicThing
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /feed:
    get:
      operationId: feed
      x-rampart-token-query: true
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

function config(upstreamUrl: string, issuers: Record<string, unknown>[], jwt: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    limits: { max_header_bytes: 65536 },
    // The attack suite sends many bad tokens from one IP: keep the monitor's auto-block and the authentication
    // backoff (test/authn-backoff.test.ts) out of these tests, which are about each token's verdict.
    monitor: { enabled: false },
    upstreams: { main: { url: upstreamUrl } },
    apis: [{ name: 'items', spec: './items.yaml', upstream: 'main', auth: { jwt: { issuers, ...jwt }, failure_backoff: { free_failures_ip: 1_000_000 } } }],
  };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;

before(async () => {
  issuer = await startTestIssuer('items-api');
  upstream = await startUpstream();
  gw = await startGateway(
    config(upstream.url, [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks`, required_typ: 'at+jwt' }], {
      token_sources: ['header', 'query'],
    }),
    { files: { 'items.yaml': SPEC } },
  );
});

after(async () => {
  await gw?.close();
  await upstream?.close();
  await issuer?.close();
});

const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
  send(gw.url, path, { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });

async function assertRejected(token: string | undefined, label: string, options: { path?: string; raw?: Record<string, string>; error?: string } = {}) {
  const before = upstream.seen.length;
  const res = options.raw ? await send(gw.url, options.path ?? '/items', { headers: options.raw }) : await get(options.path ?? '/items', token);
  assert.equal(res.status, 401, `${label}: status`);
  const problem = problemOf(res.json());
  assert.ok(problem.code === 'invalid_token' || problem.code === 'unauthorized', `${label}: problem type ${problem.code}`);
  assert.deepEqual(problem.keys, ['requestId', 'status', 'title', 'type'], `${label}: generic problem body`);
  assert.match(String(res.headers['www-authenticate']), /^Bearer realm="rampart"/, `${label}: WWW-Authenticate`);
  if (options.error) assert.match(String(res.headers['www-authenticate']), new RegExp(`error="${options.error}"`), `${label}: RFC 6750 error`);
  assert.equal(upstream.seen.length, before, `${label}: upstream must not be reached`);
  assert.ok(!gw.rawLogs().includes(token ?? '\u0000never'), `${label}: token never logged`);
}

describe('valid tokens', () => {
  test('a valid token reaches the upstream and the identity is established', async () => {
    const token = await issuer.sign({ sub: 'alice', scope: 'orders:read profile', roles: ['user'], tenant: 'acme', client_id: 'web' });
    const res = await get('/items', token);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.url, '/items');
  });

  test('no credential on a protected route: 401 with a bare Bearer challenge', async () => {
    const before = upstream.seen.length;
    const res = await get('/items');
    assert.equal(res.status, 401);
    assert.equal(problemOf(res.json()).code, 'unauthorized');
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="rampart"');
    assert.equal(upstream.seen.length, before);
  });

  test('public route: anonymous passes, a valid token passes, a bad token is still rejected', async () => {
    assert.equal((await get('/public')).status, 200);
    assert.equal((await get('/public', await issuer.sign({}))).status, 200);
    await assertRejected(await issuer.sign({ aud: 'other' }), 'bad token on public route', { path: '/public' });
  });

  test('query token accepted only where the operation allows it', async () => {
    const token = await issuer.sign({});
    assert.equal((await send(gw.url, `/feed?access_token=${token}`)).status, 200);
    await assertRejected(token, 'token in the query string', { path: `/items?access_token=${token}`, raw: {}, error: 'invalid_request' });
  });
});

describe('attack tokens: each 401, upstream not reached', () => {
  test('alg none (unsecured JWT)', async () => {
    const payload = b64({ iss: issuer.issuer, aud: 'items-api', sub: 'admin', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 });
    await assertRejected(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`, 'alg none');
    await assertRejected(`${b64({ alg: 'none', typ: 'at+jwt', kid: issuer.current().kid })}.${payload}.`, 'alg none with kid');
    await assertRejected(`${b64({ alg: 'NONE', typ: 'at+jwt' })}.${payload}.`, 'alg NONE');
  });

  test('HS256 signed with the issuer public key (key confusion)', async () => {
    const pem = await exportSPKI(issuer.current().publicKey);
    const claims = { iss: issuer.issuer, aud: 'items-api', sub: 'admin', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 };
    for (const secret of [pem, JSON.stringify(issuer.current().publicJwk), createPublicKey(pem).export({ format: 'der', type: 'spki' }).toString('binary')]) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuer.current().kid })
        .sign(new TextEncoder().encode(secret));
      await assertRejected(token, 'HS256 with public key', { error: 'invalid_token' });
    }
  });

  test('wrong iss, wrong aud', async () => {
    await assertRejected(await issuer.sign({ iss: 'https://evil.example' }), 'wrong iss');
    await assertRejected(await issuer.sign({ aud: 'another-api' }), 'wrong aud');
    await assertRejected(await issuer.sign({ aud: undefined }), 'missing aud');
    await assertRejected(await issuer.sign({ iss: undefined }), 'missing iss');
  });

  test('expired, nbf in the future, missing exp, lifetime over the maximum, iat in the future, wrong typ', async () => {
    await assertRejected(await issuer.sign({}, { ttlSeconds: -120 }), 'expired');
    await assertRejected(await issuer.sign({ nbf: Math.floor(Date.now() / 1000) + 600 }), 'nbf in the future');
    await assertRejected(await issuer.sign({ exp: undefined }), 'missing exp');
    await assertRejected(await issuer.sign({}, { ttlSeconds: 7200 }), 'lifetime over max');
    await assertRejected(await issuer.sign({}, { now: Date.now() + 600_000 }), 'iat in the future');
    await assertRejected(await issuer.sign({ iat: undefined }), 'missing iat');
    await assertRejected(await issuer.sign({ sub: undefined }), 'missing sub');
    await assertRejected(await issuer.sign({}, { header: { typ: 'JWT' } }), 'wrong typ');
  });

  test('tampered payload and tampered signature', async () => {
    const [h, p, s] = (await issuer.sign({ sub: 'bob' })).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    await assertRejected(`${h}.${b64({ ...claims, sub: 'admin' })}.${s}`, 'tampered payload');
    const flipped = (s[10] === 'A' ? 'B' : 'A');
    await assertRejected(`${h}.${p}.${s.slice(0, 10)}${flipped}${s.slice(11)}`, 'tampered signature');
    await assertRejected(`${h}.${p}.`, 'signature stripped');
  });

  test('jku, x5u and embedded jwk pointing at an attacker key; crit header', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const attackerKid = await calculateJwkThumbprint(attackerJwk);
    await assertRejected(await issuer.sign({ sub: 'admin' }, { key: attacker.privateKey, header: { jku: 'http://127.0.0.1:9/jwks', kid: attackerKid } }), 'jku');
    await assertRejected(await issuer.sign({ sub: 'admin' }, { key: attacker.privateKey, header: { jku: 'http://127.0.0.1:9/jwks' } }), 'jku with issuer kid');
    await assertRejected(await issuer.sign({ sub: 'admin' }, { key: attacker.privateKey, header: { x5u: 'http://127.0.0.1:9/cert.pem', kid: attackerKid } }), 'x5u');
    await assertRejected(await issuer.sign({ sub: 'admin' }, { key: attacker.privateKey, header: { jwk: { ...attackerJwk, kid: attackerKid }, kid: attackerKid } }), 'embedded jwk');
    // Even genuinely signed tokens carrying these headers are refused (never followed, never trusted).
    await assertRejected(await issuer.sign({}, { header: { jku: `${issuer.url}/jwks` } }), 'jku on a genuine token');
    const crit = await new SignJWT({ iss: issuer.issuer, aud: 'items-api', sub: 'alice', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300, 'urn:x': 1 })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: issuer.current().kid, crit: ['urn:x'], 'urn:x': true } as never)
      .sign(issuer.current().privateKey, { crit: { 'urn:x': true } });
    await assertRejected(crit, 'crit header');
  });

  test('16 KB token and garbage tokens are rejected before parsing', async () => {
    await assertRejected('a'.repeat(16 * 1024), '16 KB token');
    await assertRejected(`${'eyJ'.padEnd(8000, 'a')}.${'b'.repeat(8000)}.c`, '16 KB JWT-shaped token');
    await assertRejected('not-a-jwt', 'opaque garbage');
    await assertRejected(undefined, 'malformed header', { raw: { authorization: 'Bearer a b c' }, error: 'invalid_request' });
  });

  test('unknown kid; a burst of random kids causes at most one JWKS refetch per cooldown', async () => {
    assert.equal((await get('/items', await issuer.sign({}))).status, 200);
    const before = issuer.jwksFetches();
    const attacker = await generateKeyPair('ES256');
    await assertRejected(await issuer.sign({}, { key: attacker.privateKey, header: { kid: randomUUID() } }), 'unknown kid');
    const tokens = await Promise.all(Array.from({ length: 40 }, () => issuer.sign({}, { key: attacker.privateKey, header: { kid: randomUUID() } })));
    const statuses = await Promise.all(tokens.map((t) => get('/items', t).then((r) => r.status)));
    assert.ok(statuses.every((s) => s === 401), `every random kid rejected: ${statuses.join(',')}`);
    assert.ok(issuer.jwksFetches() - before <= 1, `JWKS fetched ${issuer.jwksFetches() - before} times within one cooldown`);
  });
});

describe('key rotation', () => {
  test('test issuer: tokens from the old and the new key both pass after rotation (refetch after cooldown)', async () => {
    const iss = await startTestIssuer('rot-api');
    const up = await startUpstream();
    const g = await startGateway(config(up.url, [{ issuer: iss.issuer, audience: 'rot-api', discovery_url: `${iss.url}/.well-known/openid-configuration`, jwks_cooldown_seconds: 1 }]), {
      files: { 'items.yaml': SPEC },
    });
    try {
      const old = await iss.sign({});
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${old}` } })).status, 200);
      await iss.rotate();
      const fresh = await iss.sign({});
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${fresh}` } })).status, 200, 'new key after rotation');
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${old}` } })).status, 200, 'old key still published');
      assert.equal(iss.discoveryFetches(), 1);
      assert.equal(iss.jwksFetches(), 2);
    } finally {
      await g.close();
      await up.close();
      await iss.close();
    }
  });

  test('demo IdP: real tokens pass before and after its key rotation', async () => {
    let idp: Idp | undefined;
    const up = await startUpstream();
    let g: TestGateway | undefined;
    try {
      idp = await startIdp({ audience: 'demo-api' });
      g = await startGateway(
        config(up.url, [{ issuer: idp.issuer, audience: 'demo-api', discovery_url: `${idp.url}/.well-known/openid-configuration`, required_typ: 'at+jwt', jwks_cooldown_seconds: 1 }]),
        { files: { 'items.yaml': SPEC } },
      );
      const first = await idp.issueToken({ sub: 'alice', scope: 'orders:read', tenant: 'acme' });
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${first}` } })).status, 200);
      await idp.rotateKey();
      await new Promise((r) => setTimeout(r, 1100));
      const second = await idp.issueToken({ sub: 'carol', scope: 'orders:read', tenant: 'globex' });
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${second}` } })).status, 200);
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${first}` } })).status, 200);
      const expired = await idp.issueToken({ sub: 'alice' }, { ttlSeconds: -600 });
      assert.equal((await send(g.url, '/items', { headers: { authorization: `Bearer ${expired}` } })).status, 401);
    } finally {
      await g?.close();
      await up.close();
      await idp?.close();
    }
  });
});
