/**
 * Attacks a red-team review tried on sender-constrained tokens, each refused since: a Host header smuggling another
 * path into `htu`, introspected tokens escaping the binding, API keys on a sender-constrained operation, nonce
 * handling that locked honest clients out or crashed, costly junk proofs, a query token beside a DPoP header, and
 * one client filling the replay cache. Loopback only.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startIntrospectionServer, type IntrospectionServer } from './helpers/introspection-server.ts';
import { TEST_ENV } from './helpers/apikeys.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { verifyProof } from '../src/policies/authn-dpop/proof.ts';
import { ath, DPOP_SPEC as SPEC, proof, proofKey } from './helpers/dpop.ts';

let issuer: TestIssuer;
let upstream: TestUpstream;
before(async () => {
  issuer = await startTestIssuer('items-api');
  upstream = await startUpstream();
});
after(async () => {
  await upstream?.close();
  await issuer?.close();
});

function api(auth: Record<string, unknown>, operations: Record<string, unknown> = {}, spec = './items.yaml'): Record<string, unknown> {
  return { name: 'items', spec, upstream: 'main', response: { mode: 'off' }, auth, operations };
}

function config(apiConfig: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { monitor: { enabled: false }, upstreams: { main: { url: upstream.url } }, apis: [apiConfig], ...extra };
}

const jwtAuth = () => ({ jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] } });

describe('htu: the Host header must be a plain authority', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config(api({ ...jwtAuth(), failure_backoff: { enabled: false } })), { files: { 'items.yaml': SPEC } });
  });
  after(() => gw?.close());

  test('a proof made for GET /public is refused on GET /items, whatever Host: <host>/public? (or #) says', async () => {
    const key = await proofKey();
    const token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
    const host = new URL(gw.url).host;
    const seen = upstream.seen.length;
    for (const suffix of ['?', '#']) {
      // A proof the client made for another resource (here /public) on this very gateway.
      const p = await proof(key, { htm: 'GET', htu: `${gw.url}/public`, ath: ath(token) });
      const res = await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: p, host: `${host}/public${suffix}` } });
      assert.notEqual(res.status, 200, `Host suffix ${JSON.stringify(suffix)}`);
    }
    assert.equal(upstream.seen.length, seen, 'nothing reached the upstream');
  });
});

describe('introspection: sender_constraint applies to opaque tokens too', () => {
  let idp: IntrospectionServer;
  let gw: TestGateway;
  before(async () => {
    idp = await startIntrospectionServer('rampart-gw', 'introspect-secret');
    const auth = {
      ...jwtAuth(),
      introspection: { endpoint: idp.url, client_id: 'rampart-gw', client_secret: '${env:INTROSPECT_SECRET}', timeout_ms: 500 },
      sender_constraint: { mode: 'required' },
      failure_backoff: { enabled: false },
    };
    gw = await startGateway(config(api(auth)), { files: { 'items.yaml': SPEC }, env: { ...process.env, INTROSPECT_SECRET: 'introspect-secret' } });
  });
  after(async () => {
    await gw?.close();
    await idp?.close();
  });

  test('mode required: a plain JWT and a plain opaque bearer token are both refused', async () => {
    const plainJwt = await issuer.sign({ sub: 'alice' });
    assert.equal((await send(gw.url, '/items', { headers: { authorization: `Bearer ${plainJwt}` } })).status, 401);
    idp.tokens.set('opaque-unbound-1', { active: true, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 });
    const res = await send(gw.url, '/items', { headers: { authorization: 'Bearer opaque-unbound-1' } });
    assert.equal(res.status, 401);
  });

  test('an introspected token bound to a DPoP key (cnf.jkt) or a certificate (cnf.x5t#S256) is refused as a bearer token; with its proof it passes', async () => {
    const key = await proofKey();
    idp.tokens.set('opaque-jkt-bound', { active: true, sub: 'alice', cnf: { jkt: key.jkt }, exp: Math.floor(Date.now() / 1000) + 300 });
    idp.tokens.set('opaque-x5t-bound', { active: true, sub: 'alice', cnf: { 'x5t#S256': 'A'.repeat(43) }, exp: Math.floor(Date.now() / 1000) + 300 });
    const seen = upstream.seen.length;
    // A thief with the stolen opaque token, no proof, no key, no client certificate, over plain HTTP.
    assert.equal((await send(gw.url, '/items', { headers: { authorization: 'Bearer opaque-jkt-bound' } })).status, 401);
    assert.equal((await send(gw.url, '/items', { headers: { authorization: 'Bearer opaque-x5t-bound' } })).status, 401);
    assert.equal(upstream.seen.length, seen);
    const withProof = await send(gw.url, '/items', { headers: { authorization: 'DPoP opaque-jkt-bound', dpop: await proof(key, { htm: 'GET', htu: `${gw.url}/items`, ath: ath('opaque-jkt-bound') }) } });
    assert.equal(withProof.status, 200, 'the holder of the key gets through');
    const before = upstream.seen.length;
    const twice = await send(gw.url, '/items?access_token=opaque-jkt-bound', { headers: { authorization: 'DPoP opaque-jkt-bound', dpop: await proof(key, { htm: 'GET', htu: `${gw.url}/items`, ath: ath('opaque-jkt-bound') }) } });
    assert.equal(twice.status, 401, 'a query token beside a DPoP header is refused for opaque tokens too');
    assert.equal(upstream.seen.length, before);
  });
});

const EITHER_SPEC = `openapi: 3.1.0
info: { title: either, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    apiKey: { type: apiKey, in: header, name: X-API-Key }
paths:
  /payouts:
    post:
      operationId: createPayout
      security: [ { bearer: [] }, { apiKey: [] } ]
      responses: { '200': { description: ok } }
`;

describe('API keys on an operation with sender_constraint: required', () => {
  test('an operation that requires sender-constrained tokens but accepts API keys is refused at start-up', async () => {
    const auth = { ...jwtAuth(), api_keys: true, failure_backoff: { enabled: false } };
    await assert.rejects(
      startGateway(config(api(auth, { createPayout: { sender_constraint: 'required' } }, './either.yaml'), { admin: { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }] } }), { files: { 'either.yaml': EITHER_SPEC }, env: TEST_ENV }),
      /apis\[0\]\.auth\.sender_constraint: operation "createPayout" requires sender-constrained tokens but also accepts API keys/,
    );
  });
});

describe('server nonces', () => {
  test('a 43-character nonce of non-ASCII characters is a 401 use_dpop_nonce, never a 500', async () => {
    const gw = await startGateway(config(api({ ...jwtAuth(), sender_constraint: { nonce: { enabled: true } }, failure_backoff: { enabled: true, free_failures_ip: 1 } })), { files: { 'items.yaml': SPEC } });
    try {
      const key = await proofKey();
      const token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
      const htu = `${gw.url}/items`;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const p = await proof(key, { htm: 'GET', htu, ath: ath(token), nonce: 'é'.repeat(43) });
        statuses.push((await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: p } })).status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401]);
    } finally {
      await gw.close();
    }
  });

  test('the use_dpop_nonce challenge is not counted as an authentication failure; a 200 carries a fresh DPoP-Nonce', async () => {
    const gw = await startGateway(config(api({ ...jwtAuth(), sender_constraint: { nonce: { enabled: true } }, failure_backoff: { enabled: true, free_failures_ip: 2 } })), { files: { 'items.yaml': SPEC } });
    try {
      const htu = `${gw.url}/items`;
      const statuses: number[] = [];
      // Three well-behaved clients behind one IP (or one client over three nonce rotations) each do the dance:
      // a first proof without a nonce (they cannot know it), then a proof with the nonce they were given.
      for (let client = 0; client < 3; client++) {
        const key = await proofKey();
        const token = await issuer.sign({ sub: `client-${client}`, cnf: { jkt: key.jkt } });
        const first = await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, ath: ath(token) }) } });
        statuses.push(first.status);
        const nonce = first.headers['dpop-nonce'];
        const second = await send(gw.url, '/items', {
          headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, ath: ath(token), ...(nonce ? { nonce: String(nonce) } : {}) }) },
        });
        statuses.push(second.status);
        if (second.status === 200) assert.match(String(second.headers['dpop-nonce']), /^[A-Za-z0-9_-]{43}$/, 'a fresh nonce on success');
      }
      assert.deepEqual(statuses, [401, 200, 401, 200, 401, 200]);
    } finally {
      await gw.close();
    }
  });
});

/** A proof header with an RSA `jwk` of `bits` bits and an exponent of `eBytes` bytes; the signature is junk. */
function junkRsaProof(bits: number, eBytes: number, claims: Record<string, unknown>): string {
  const b64 = (b: Buffer) => b.toString('base64url');
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  const e = eBytes === 3 ? Buffer.from([1, 0, 1]) : Buffer.concat([Buffer.from([0x40]), randomBytes(eBytes - 2), Buffer.from([1])]);
  const header = { alg: 'RS256', typ: 'dpop+jwt', jwk: { kty: 'RSA', n: b64(n), e: b64(e) } };
  return `${b64(Buffer.from(JSON.stringify(header)))}.${b64(Buffer.from(JSON.stringify({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })))}.${b64(randomBytes(bits / 8))}`;
}

describe('CPU cost of junk proofs', () => {
  test('an RSA jwk with a huge public exponent is refused before any key import', async () => {
    const options = { algorithms: ['RS256'], maxAgeSeconds: 60, skewSeconds: 5 };
    const expected = { method: 'GET', url: 'http://127.0.0.1/items', accessToken: 't', nowMs: Date.now(), jkt: '' };
    const claims = { htm: 'GET', htu: expected.url, ath: 'x' };
    const time = async (p: string): Promise<{ ms: number; message: string }> => {
      let best = Infinity;
      let message = '';
      const header = JSON.parse(Buffer.from(p.split('.')[0]!, 'base64url').toString()) as { jwk: JWK };
      const jkt = await calculateJwkThumbprint(header.jwk);
      for (let i = 0; i < 5; i++) {
        const start = process.hrtime.bigint();
        await verifyProof(p, { ...expected, jkt }, options).catch((error: Error) => (message = error.message));
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
      }
      return { ms: best, message };
    };
    const ordinary = await time(junkRsaProof(3072, 3, claims));
    const bigExponent = await time(junkRsaProof(3072, 384, claims));
    assert.match(ordinary.message, /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/, 'e = 65537: imported and checked');
    assert.match(bigExponent.message, /RSA public exponent is not 65537/, 'refused before WebCrypto');
  });

  test('with a stolen bound token, a proof by a foreign key is refused before its signature is checked', async () => {
    const gw = await startGateway(config(api({ ...jwtAuth(), failure_backoff: { enabled: false } })), { files: { 'items.yaml': SPEC } });
    try {
      const key = await proofKey();
      const stolen = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
      const p = junkRsaProof(3072, 3, { htm: 'GET', htu: `${gw.url}/items`, ath: ath(stolen) });
      const res = await send(gw.url, '/items', { headers: { authorization: `DPoP ${stolen}`, dpop: p } });
      assert.equal(res.status, 401);
      // The deny line (the access log line repeats the reason, and may or may not be written yet).
      const reasons = gw.logs
        .filter((l) => l['log'] !== 'access')
        .map((l) => String(l['reason'] ?? ''))
        .filter((r) => r.startsWith('DPoP proof rejected'));
      assert.deepEqual(reasons, ['DPoP proof rejected: proof key is not the key the token is bound to']);
    } finally {
      await gw.close();
    }
  });
});

describe('Authorization: DPoP still runs the query-token check', () => {
  test('an access_token in the query next to Authorization: DPoP is refused and never reaches the upstream', async () => {
    // Strict validation (the default, additional_properties: reject) happens to answer 400 for the undeclared
    // parameter; with `allow`, or on a passthrough API, nothing else stands in the way.
    const gw = await startGateway(config({ ...api({ ...jwtAuth(), failure_backoff: { enabled: false } }), validation: { additional_properties: 'allow' } }), { files: { 'items.yaml': SPEC } });
    try {
      const key = await proofKey();
      const token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
      const other = await issuer.sign({ sub: 'bob' });
      // With Bearer the same query is refused (query is not a token source on this route).
      assert.equal((await send(gw.url, `/items?access_token=${other}`, { headers: { authorization: `Bearer ${other}` } })).status, 401);
      const res = await send(gw.url, `/items?access_token=${other}`, { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${gw.url}/items`, ath: ath(token) }) } });
      assert.equal(res.status, 401);
      assert.ok(!upstream.seen.some((r) => r.url.includes('access_token')));
    } finally {
      await gw.close();
    }
  });
});

describe('jti reservations live in their own store, with a quota per key', () => {
  test('one client\'s own valid proofs never crowd out another client, even with a tiny counters table', async () => {
    // max_keys: 100 (the minimum) scales the default 100 000 down: the held table then takes 100 entries.
    const gw = await startGateway(config(api({ ...jwtAuth(), failure_backoff: { enabled: false } }), { counters: { kind: 'memory', max_keys: 100 } }), { files: { 'items.yaml': SPEC } });
    try {
      const htu = `${gw.url}/items`;
      const mallory = await proofKey();
      const malloryToken = await issuer.sign({ sub: 'mallory', cnf: { jkt: mallory.jkt } });
      const statuses: number[] = [];
      for (let i = 0; i < 100; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async () => (await send(gw.url, '/items', { headers: { authorization: `DPoP ${malloryToken}`, dpop: await proof(mallory, { htm: 'GET', htu, ath: ath(malloryToken) }) } })).status),
        );
        statuses.push(...batch);
      }
      assert.ok(statuses.every((s) => s === 200), 'mallory: 100 legitimate requests');
      const alice = await proofKey();
      const aliceToken = await issuer.sign({ sub: 'alice', cnf: { jkt: alice.jkt } });
      const res = await send(gw.url, '/items', { headers: { authorization: `DPoP ${aliceToken}`, dpop: await proof(alice, { htm: 'GET', htu, ath: ath(aliceToken) }) } });
      assert.equal(res.status, 200);
    } finally {
      await gw.close();
    }
  });
});
