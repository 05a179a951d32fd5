/**
 * Scopes and roles for API keys through a real gateway (keys created with the admin API, SQLite store): the
 * operation's `security` scopes apply to API key scopes (403 `insufficient_scope`), `x-rampart-roles` to the
 * consumer's roles (403 `forbidden`, BFLA), and `apis[].operations.<id>.roles` overrides the spec.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_TOKEN, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';

const SPEC = `openapi: 3.1.0
info: { title: keys, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
paths:
  /items:
    get:
      operationId: listItems
      security: [{ apiKey: [items:read] }]
      responses: { '200': { description: ok } }
    post:
      operationId: createItem
      security: [{ apiKey: [items:write] }]
      responses: { '200': { description: ok } }
  /admin/purge:
    post:
      operationId: purge
      security: [{ apiKey: [] }]
      x-rampart-roles: [admin]
      responses: { '200': { description: ok } }
  /reports:
    get:
      operationId: reports
      security: [{ apiKey: [] }]
      x-rampart-roles: [admin]
      responses: { '200': { description: ok } }
`;

describe('API key scopes and consumer roles', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let key = '';

  before(async () => {
    upstream = await startUpstream();
    const config = keysConfig(upstream.url, { monitor: { enabled: false } });
    const apis = config['apis'] as Record<string, unknown>[];
    apis[0] = { ...apis[0], spec: './keys.yaml', operations: { reports: { roles: ['reader'] } } };
    gw = await startGateway(config, { files: { 'keys.yaml': SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-r', name: 'Reader', roles: ['reader'] })).status, 201);
    const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-r', scopes: ['items:read'] });
    assert.equal(created.status, 201);
    key = String(created.json['key']);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const call = async (method: string, path: string) => {
    const res = await fetch(gw.url + path, { method, headers: { 'x-api-key': key }, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, text, challenge: res.headers.get('www-authenticate'), type: res.status >= 400 ? String((JSON.parse(text) as { type: string }).type) : '' };
  };

  test('a key with the scope passes; a key without it gets 403 insufficient_scope and the upstream is not reached', async () => {
    assert.equal((await call('GET', '/items')).status, 200);
    const before = upstream.seen.length;
    const denied = await call('POST', '/items');
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.type, 'https://rampart.dev/problems/insufficient_scope');
    assert.equal(denied.challenge, null, 'no Bearer challenge for an API key caller');
    assert.equal(upstream.seen.length, before);
  });

  test('x-rampart-roles denies a consumer without the role (BFLA); the config override grants it', async () => {
    const denied = await call('POST', '/admin/purge');
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.type, 'https://rampart.dev/problems/forbidden');
    assert.equal((await call('GET', '/reports')).status, 200, 'apis[].operations.reports.roles: [reader] wins over x-rampart-roles');
  });
});
