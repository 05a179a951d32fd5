/**
 * The signed identity header: after authentication the upstream receives a short-lived JWT signed by Rampart's
 * own key, verifiable with jose against the JWKS on the admin listener; anonymous requests get none, and a
 * client-supplied copy never passes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { send } from './helpers/gateway-fixtures.ts';

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
paths:
  /items:
    get:
      operationId: listItems
      security: [ { bearer: [] } ]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /public:
    get:
      operationId: publicThing
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

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

function config(identity: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    identity,
    upstreams: { orders: { url: upstream.url } },
    apis: [{ name: 'items', spec: './items.yaml', upstream: 'orders', auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] } } }],
  };
}

async function withGateway(identity: Record<string, unknown>, files: Record<string, string>, run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startGateway(config(identity), { files: { 'items.yaml': SPEC, ...files } });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

test('the upstream verifies the identity header with jose against the admin JWKS (generated key)', async () => {
  await withGateway({}, {}, async (gw) => {
    const token = await issuer.sign({ sub: 'alice', scope: 'orders:read profile', roles: ['user'], tenant: 'acme', client_id: 'web' });
    const res = await send(gw.url, '/items', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-identity-0001', 'x-rampart-identity': 'forged' } });
    assert.equal(res.status, 200);
    const assertion = upstream.seen.at(-1)!.headers['x-rampart-identity'];
    assert.equal(typeof assertion, 'string');
    assert.notEqual(assertion, 'forged', 'a client copy never passes');
    const jwks = createRemoteJWKSet(new URL(`${gw.adminUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(assertion as string, jwks, {
      issuer: 'rampart',
      audience: 'orders',
      typ: 'rampart-identity+jwt',
      algorithms: ['ES256', 'EdDSA'],
      maxTokenAge: 120,
    });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload['consumer'], 'web');
    assert.equal(payload['tenant'], 'acme');
    assert.equal(payload['scope'], 'orders:read profile');
    assert.deepEqual(payload['roles'], ['user']);
    assert.equal(payload['auth_method'], 'jwt');
    assert.equal(payload['request_id'], 'req-identity-0001');
    assert.ok(payload.exp! - payload.iat! <= 60);
    const published = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    assert.ok(published.keys.length >= 1 && published.keys.every((k) => !('d' in k)), 'no private members published');
  });
});

test('anonymous requests get no identity header; a client-supplied one is stripped', async () => {
  await withGateway({}, {}, async (gw) => {
    const res = await send(gw.url, '/public', { headers: { 'x-rampart-identity': 'forged' } });
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.at(-1)!.headers['x-rampart-identity'], undefined);
  });
});

test('a configured Ed25519 key from a ${file:…} reference signs with EdDSA and its kid is published', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await withGateway({ signing_key: '${file:identity.pem}', header: 'x-rampart-caller', ttl_seconds: 30 }, { 'identity.pem': pem }, async (gw) => {
    const token = await issuer.sign({ sub: 'bob' });
    assert.equal((await send(gw.url, '/items', { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const assertion = upstream.seen.at(-1)!.headers['x-rampart-caller'] as string;
    assert.equal(decodeProtectedHeader(assertion).alg, 'EdDSA');
    const jwks = createRemoteJWKSet(new URL(`${gw.adminUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(assertion, jwks, { issuer: 'rampart', audience: 'orders' });
    assert.equal(payload.sub, 'bob');
    assert.ok(payload.exp! - payload.iat! === 30);
    assert.ok(!gw.rawLogs().includes('PRIVATE KEY'));
  });
});

test('a signing key that is not EC P-256 or Ed25519 stops start-up', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await assert.rejects(startGateway(config({ signing_key: '${file:identity.pem}' }), { files: { 'items.yaml': SPEC, 'identity.pem': pem } }), /identity\.signing_key/);
});
