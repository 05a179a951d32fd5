/**
 * Attacks a red-team review found against minted upstream credentials, end to end (a real gateway in front of the
 * weak-key app of test/helpers/app-upstream.ts), each fixed: a minting key Rampart also accepts, underscore twins of
 * stripped headers, and a second API reaching the same upstream with the client's own credential.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, adminCall, TEST_ENV } from './helpers/apikeys.ts';
import { appToken, startAppUpstream, type AppUpstream } from './helpers/app-upstream.ts';
import { send } from './helpers/gateway-fixtures.ts';

const SPEC = (security: string) => `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
    appToken: { type: http, scheme: bearer }
  schemas:
    Any: { type: object }
security: ${security}
paths:
  /me:
    get:
      operationId: me
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '401': { description: no } }
  /admin/users:
    get:
      operationId: listUsers
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Any' } } } }, '403': { description: no } }
`;

const ENV = { ...TEST_ENV, APP_JWT_SECRET: 'secret123' };
const MINT = { jwt: { algorithm: 'HS256', key: '${env:APP_JWT_SECRET}', claims: { sub: 'identity.subject' } } };
const APP_ISSUER = { issuer: 'shop-app', require: ['exp', 'iat', 'sub'], secret: '${env:APP_JWT_SECRET}', algorithms: ['HS256'], allow_weak_secret: true, max_token_age_seconds: 86400 };

let app: AppUpstream;
before(async () => {
  app = await startAppUpstream();
});
after(() => app?.close());

function baseConfig(apis: Record<string, unknown>[]): Record<string, unknown> {
  return { monitor: { enabled: false }, admin: ADMIN_CONFIG, upstreams: { shop: { url: app.url } }, apis };
}

async function keyFor(gw: TestGateway, consumer: string): Promise<string> {
  assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: consumer, name: consumer })).status, 201);
  return String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer, scopes: [] })).json['key']);
}

describe('red team: minting behind a weak app issuer Rampart also accepts', () => {
  test('a token forged with the weak key is not re-minted into a genuine admin credential (or the config is refused)', async () => {
    let gw: TestGateway;
    try {
      gw = await startGateway(
        baseConfig([{ name: 'shop', spec: './shop.yaml', upstream: 'shop', response: { mode: 'off' }, auth: { api_keys: true, jwt: { issuers: [APP_ISSUER] } }, upstream_credential: MINT }]),
        { files: { 'shop.yaml': SPEC('[ { apiKey: [] }, { appToken: [] } ]') }, env: ENV },
      );
    } catch {
      return; // refusing the combination at start-up is a fix
    }
    try {
      const warning = gw.logs.map((l) => String(l['msg'])).find((m) => m.includes('upstream_credential.jwt.key'));
      const forged = await appToken('admin'); // anyone who guessed "secret123" offline
      const res = await send(gw.url, '/admin/users', { headers: { authorization: `Bearer ${forged}` } });
      assert.notEqual(
        res.status,
        200,
        `Rampart verified the forged token with the same weak key and minted a real one for "admin" (start-up said: ${warning})`,
      );
    } finally {
      await gw.close();
    }
  });
});

describe('red team: what else reaches the upstream', () => {
  let gw: TestGateway;
  let alice: string;
  const minting = { name: 'shop', spec: './shop.yaml', upstream: 'shop', response: { mode: 'off' }, auth: { api_keys: true }, upstream_credential: { jwt: { ...MINT.jwt, header: 'x-app-token', prefix: '' } } };
  before(async () => {
    gw = await startGateway(baseConfig([minting]), { files: { 'shop.yaml': SPEC('[ { apiKey: [] } ]') }, env: ENV });
    alice = await keyFor(gw, 'alice');
  });
  after(() => gw?.close());

  test('underscore twins of stripped headers (x_app_token, x_api_key, x_rampart_identity) are not forwarded', async () => {
    // CGI-style upstreams (WSGI, PHP, Rack via some servers) read both `x-app-token` and `x_app_token` as HTTP_X_APP_TOKEN.
    const forged = await appToken('admin');
    await send(gw.url, '/me', { headers: { 'x-api-key': alice, x_app_token: forged, x_api_key: 'client-credential', x_rampart_identity: forged, x_forwarded_for: '10.0.0.1', 'x_custom_ok': 'kept' } });
    const seen = app.requests.at(-1)!.headers;
    assert.equal(seen['x-app-token'] !== undefined, true, 'the minted token was sent');
    const twins = Object.keys(seen).filter((h) => h.includes('_'));
    assert.deepEqual(twins, ['x_custom_ok'], 'only an underscore header that is nobody\'s twin passes');
  });

  test('another API forwarding client credentials to the same upstream is refused at start-up', async () => {
    // Same upstream, another API (e.g. a legacy passthrough mount), without upstream_credential.
    const raw = { name: 'shop-raw', upstream: 'shop', base_path: '/raw', passthrough: true, response: { mode: 'off' }, auth: { api_keys: true } };
    await assert.rejects(
      startGateway(baseConfig([minting, raw]), { files: { 'shop.yaml': SPEC('[ { apiKey: [] } ]') }, env: ENV }),
      /apis\[1\]\.upstream_credential: API "shop-raw" forwards clients' own credentials to upstream "shop"/,
    );
  });
});
