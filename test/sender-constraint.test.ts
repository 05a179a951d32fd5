/**
 * Sender-constrained tokens through a real gateway: DPoP (RFC 9449) proofs verified per request, with the replay
 * cache shared via Redis between two instances, and certificate-bound tokens (RFC 8705) over mTLS. A stolen bound
 * token replayed without its key or certificate is refused; every attack carries a proof that is right but for one
 * thing.
 */
import assert from 'node:assert/strict';
import { randomUUID, X509Certificate, createHash } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { problemOf, send } from './helpers/gateway-fixtures.ts';
import { DAY, createCa, issueLeaf } from './helpers/test-ca.ts';
import { ath, DPOP_SPEC as SPEC, proof, proofKey, type ProofKey } from './helpers/dpop.ts';

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

function config(senderConstraint: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, operations: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    upstreams: { main: { url: upstream.url } },
    apis: [
      {
        name: 'items',
        spec: './items.yaml',
        upstream: 'main',
        response: { mode: 'off' },
        auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] }, sender_constraint: senderConstraint, failure_backoff: { enabled: false } },
        operations,
      },
    ],
    ...extra,
  };
}

describe('DPoP', () => {
  let gw: TestGateway;
  let key: ProofKey;
  let token: string;
  let url: string;
  const call = (headers: Record<string, string | string[]>, path = '/items', method = 'GET') => send(gw.url, path, { method, headers });
  const dpop = (p: string | string[], t = token) => ({ authorization: `DPoP ${t}`, dpop: p });

  before(async () => {
    gw = await startGateway(config(), { files: { 'items.yaml': SPEC } });
    key = await proofKey();
    token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
    url = `${gw.url}/items`;
  });
  after(() => gw?.close());

  test('a bound token with a fresh proof of its key passes, also with a query string and as HEAD', async () => {
    assert.equal((await call(dpop(await proof(key, { htm: 'GET', htu: url, ath: ath(token) })))).status, 200);
    assert.equal((await call(dpop(await proof(key, { htm: 'GET', htu: `${url}?page=2#top`, ath: ath(token) })))).status, 200, 'query and fragment of htu are ignored');
    assert.equal((await call(dpop(await proof(key, { htm: 'HEAD', htu: url, ath: ath(token) })), '/items', 'HEAD')).status, 200);
  });

  test('stolen-token attacks are refused before the upstream', async () => {
    const thief = await proofKey();
    const other = await issuer.sign({ sub: 'bob', cnf: { jkt: key.jkt } });
    const good = { htm: 'GET', htu: url, ath: ath(token) };
    const seen = upstream.seen.length;
    const replayed = await proof(key, good);
    assert.equal((await call(dpop(replayed))).status, 200);
    const cases: [string, Record<string, string | string[]>][] = [
      ['the same proof replayed', dpop(replayed)],
      ['the bound token as a bearer token', { authorization: `Bearer ${token}` }],
      ['the bound token as a bearer token with a proof', { authorization: `Bearer ${token}`, dpop: await proof(key, good) }],
      ['no proof', { authorization: `DPoP ${token}` }],
      ['a proof by the thief\'s own key', dpop(await proof(thief, good))],
      ['a proof for another URL', dpop(await proof(key, { ...good, htu: `${gw.url}/public` }))],
      ['a proof for another host', dpop(await proof(key, { ...good, htu: url.replace('127.0.0.1', 'localhost') }))],
      ['a proof for another method', dpop(await proof(key, { ...good, htm: 'POST' }))],
      ['a proof for another token', dpop(await proof(key, { ...good, ath: ath(other) }))],
      ['a proof without ath', dpop(await proof(key, { htm: 'GET', htu: url }))],
      ['a proof 2 minutes old', dpop(await proof(key, { ...good, iat: Math.floor(Date.now() / 1000) - 120 }))],
      ['a proof from the future', dpop(await proof(key, { ...good, iat: Math.floor(Date.now() / 1000) + 120 }))],
      ['a proof with typ JWT', dpop(await proof(key, good, { typ: 'JWT' }))],
      ['a proof with a private key in its jwk', dpop(await proof(key, good, { jwk: { ...key.jwk, d: 'AAAA' } }))],
      ['two DPoP headers', dpop([await proof(key, good), await proof(key, good)])],
      ['a proof signed with HS256', { authorization: `DPoP ${token}`, dpop: await new SignJWT({ ...good, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' }).sign(new Uint8Array(32)) }],
      ['garbage', dpop('not.a.proof')],
      ['an unbound token with the DPoP scheme', dpop(await proof(key, { ...good, ath: ath(await issuer.sign({ sub: 'carol' })) }), await issuer.sign({ sub: 'carol' }))],
    ];
    for (const [name, headers] of cases) {
      const res = await call(headers);
      assert.equal(res.status, 401, name);
      assert.equal(problemOf(res.json()).code, 'invalid_token', name);
    }
    const challenge = (await call(dpop(await proof(thief, good)))).headers['www-authenticate'];
    assert.match(String(challenge), /^DPoP algs="ES256 EdDSA PS256 RS256", error="invalid_dpop_proof"$/);
    assert.equal(upstream.seen.length, seen + 1, 'only the first, legitimate request reached the upstream');
  });

  test('one proof sent in parallel on many connections is accepted exactly once', async () => {
    const p = await proof(key, { htm: 'GET', htu: url, ath: ath(token) });
    const results = await Promise.all(Array.from({ length: 12 }, () => call(dpop(p))));
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    assert.equal(results.filter((r) => r.status === 401).length, 11);
  });

  test('plain bearer tokens still pass with mode allowed; a malformed cnf is refused', async () => {
    assert.equal((await call({ authorization: `Bearer ${await issuer.sign({ sub: 'dave' })}` })).status, 200);
    for (const cnf of [{ jkt: 5 }, { jkt: 'short' }, { other: 'x' }, 'jkt', null]) {
      assert.equal((await call({ authorization: `Bearer ${await issuer.sign({ sub: 'dave', cnf })}` })).status, 401, JSON.stringify(cnf));
    }
  });
});

describe('DPoP modes and nonces', () => {
  test('mode required refuses plain bearer tokens; an operation can require it on its own', async () => {
    const key = await proofKey('EdDSA');
    const bound = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
    const plain = await issuer.sign({ sub: 'alice' });
    const gw = await startGateway(config({ mode: 'required' }), { files: { 'items.yaml': SPEC } });
    try {
      assert.equal((await send(gw.url, '/items', { headers: { authorization: `Bearer ${plain}` } })).status, 401);
      const ok = await send(gw.url, '/items', { headers: { authorization: `DPoP ${bound}`, dpop: await proof(key, { htm: 'GET', htu: `${gw.url}/items`, ath: ath(bound) }, {}, 'EdDSA') } });
      assert.equal(ok.status, 200);
    } finally {
      await gw.close();
    }
    const perOp = await startGateway(config({}, {}, { listItems: { sender_constraint: 'required' } }), { files: { 'items.yaml': SPEC } });
    try {
      assert.equal((await send(perOp.url, '/items', { headers: { authorization: `Bearer ${plain}` } })).status, 401);
    } finally {
      await perOp.close();
    }
  });

  test('server nonces: a proof without one gets use_dpop_nonce and the nonce; with it, it passes', async () => {
    const key = await proofKey();
    const token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
    const gw = await startGateway(config({ nonce: { enabled: true } }), { files: { 'items.yaml': SPEC } });
    try {
      const htu = `${gw.url}/items`;
      const first = await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, ath: ath(token) }) } });
      assert.equal(first.status, 401);
      assert.match(String(first.headers['www-authenticate']), /error="use_dpop_nonce"/);
      const nonce = String(first.headers['dpop-nonce']);
      assert.match(nonce, /^[A-Za-z0-9_-]{43}$/);
      const wrong = await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, ath: ath(token), nonce: nonce.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }) } });
      assert.equal(wrong.status, 401);
      const ok = await send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, ath: ath(token), nonce }) } });
      assert.equal(ok.status, 200);
    } finally {
      await gw.close();
    }
  });

  test('scale-out: a proof used on one instance is refused on the other (replay cache in Redis)', async () => {
    const prefix = `rampart-test-dpop-${randomUUID()}:`;
    const redis = { counters: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix } };
    const a = await startGateway(config({}, redis), { files: { 'items.yaml': SPEC } });
    const b = await startGateway(config({}, redis), { files: { 'items.yaml': SPEC } });
    try {
      const key = await proofKey();
      const token = await issuer.sign({ sub: 'alice', cnf: { jkt: key.jkt } });
      // The proof names the URL the client used; both instances are reached as 127.0.0.1, on different ports.
      const p = await proof(key, { htm: 'GET', htu: `${a.url}/items`, ath: ath(token) });
      assert.equal((await send(a.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: p } })).status, 200);
      const replayAt = (gw: TestGateway) => send(gw.url, '/items', { headers: { authorization: `DPoP ${token}`, dpop: p, host: new URL(a.url).host } });
      assert.equal((await replayAt(b)).status, 401, 'instance b knows the jti from instance a');
      assert.equal((await replayAt(a)).status, 401);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('nonces with Redis counters need a shared key (start-up names the path)', async () => {
    const redis = { counters: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: `rampart-test-dpop-${randomUUID()}:` } };
    await assert.rejects(startGateway(config({ nonce: { enabled: true } }, redis), { files: { 'items.yaml': SPEC } }), /apis\[0\]\.auth\.sender_constraint\.nonce\.key: is required with redis counters/);
  });
});

describe('certificate-bound tokens (RFC 8705)', () => {
  function get(base: string, headers: Record<string, string>, client?: { cert: string; key: string }): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(new URL('/items', base), { rejectUnauthorized: false, agent: false, headers, ...(client ?? {}) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('a token bound to a certificate passes only over a connection that presented that certificate', async () => {
    const ca = await createCa('Rampart Test Client CA');
    const valid = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY), usage: 'client' as const };
    const mine = await issueLeaf(ca, 'svc-a', valid);
    const theirs = await issueLeaf(ca, 'svc-b', valid);
    const x5t = createHash('sha256').update(new X509Certificate(mine.cert).raw).digest('base64url');
    const token = await issuer.sign({ sub: 'svc-a', cnf: { 'x5t#S256': x5t } });
    const plain = await issuer.sign({ sub: 'svc-a' });
    const gw = await startGateway(
      {
        ...config({}, {}, { listItems: { sender_constraint: 'required' } }),
        listen: { https: { port: 0, host: '127.0.0.1', cert: '${file:tls.crt}', key: '${file:tls.key}', client_ca: '${file:ca.pem}', http2: false } },
      },
      { tls: true, files: { 'items.yaml': SPEC, 'ca.pem': ca.cert.toString('pem') } },
    );
    try {
      const bearer = { authorization: `Bearer ${token}` };
      assert.equal(await get(gw.url, bearer, mine), 200);
      assert.equal(await get(gw.url, bearer, theirs), 401, 'another client certificate');
      assert.equal(await get(gw.url, bearer), 401, 'no client certificate');
      assert.equal(await get(gw.url, { authorization: `Bearer ${plain}` }, mine), 401, 'required: an unbound token is refused even with a certificate');
    } finally {
      await gw.close();
    }
  });
});
