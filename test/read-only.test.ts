/**
 * Read-only mode (`apis[].read_only`, src/policies/read-only), through a real gateway in front of a real upstream:
 * unsafe methods are refused with 503 and Retry-After before authentication and never reach the upstream; safe
 * methods pass; a method-override header cannot smuggle a write through a GET; a reload turns it off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../src/config/errors.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_TOKEN, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';
import { assertProblem } from './helpers/http.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: ro, version: 1.0.0 }
components: { securitySchemes: { apiKey: { type: apiKey, in: header, name: X-API-Key } } }
security: [ { apiKey: [] } ]
paths:
  /items:
    get: { operationId: listItems, responses: { '200': { description: ok } } }
    post:
      operationId: createItem
      requestBody: { content: { application/json: { schema: { type: object } } } }
      responses: { '200': { description: created } }
  /items/{id}:
    parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
    get: { operationId: getItem, responses: { '200': { description: ok } } }
    delete: { operationId: deleteItem, responses: { '204': { description: deleted } } }
`;

describe('read-only mode', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let key = '';

  before(async () => {
    up = await startUpstream();
    const config = keysConfig(up.url, { monitor: { enabled: false } });
    const api = (config['apis'] as Record<string, unknown>[])[0]!;
    api['spec'] = './ro.yaml';
    api['read_only'] = { enabled: true, retry_after_seconds: 120 };
    gw = await startGateway(config, { files: { 'ro.yaml': SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-ro', name: 'RO' })).status, 201);
    key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-ro' })).json['key']);
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const send = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await fetch(gw.url + path, { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, body, signal: AbortSignal.timeout(5000) });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  };

  test('writes are refused with 503 and Retry-After and never reach the upstream, with or without a credential', async () => {
    const before = up.seen.length;
    for (const res of [
      await send('POST', '/items', { 'x-api-key': key }, '{"name":"x"}'),
      await send('DELETE', '/items/1', { 'x-api-key': key }),
      await send('POST', '/items', {}, '{"name":"x"}'),
      await send('DELETE', '/items/1', { 'x-api-key': 'rk_live_wrong' }),
    ]) {
      assertProblem(res, 503, 'read_only');
      assert.equal(res.headers['retry-after'], '120');
    }
    assert.equal(up.seen.length, before, 'the upstream must not be reached');
    const denied = gw.logs.filter((l) => l['msg'] === 'request denied' && l['code'] === 'read_only');
    assert.ok(denied.length >= 4 && denied.every((l) => l['stage'] === 'read-only'), JSON.stringify(denied.slice(0, 2)));
  });

  test('reads pass (authentication still applies to them); a method-override header does not turn a GET into a write', async () => {
    assert.equal((await send('GET', '/items', { 'x-api-key': key })).status, 200);
    assert.equal((await send('HEAD', '/items/7', { 'x-api-key': key })).status, 200);
    assertProblem(await send('GET', '/items'), 401, 'unauthorized');
    const res = await send('GET', '/items/1', { 'x-api-key': key, 'x-http-method-override': 'DELETE', 'x-method-override': 'DELETE' });
    assert.equal(res.status, 200);
    const seen = up.seen.at(-1);
    assert.equal(seen?.method, 'GET');
    assert.equal(seen?.headers['x-http-method-override'], undefined);
    assert.equal(seen?.headers['x-method-override'], undefined);
  });

  test('a reload turns it off: the same write reaches the upstream', async () => {
    const config = parse(readFileSync(gw.configFile, 'utf8')) as { apis: Record<string, unknown>[] };
    config.apis[0]!['read_only'] = { enabled: false };
    writeFileSync(gw.configFile, stringify(config));
    assert.equal(await gw.gateway.reload(), true);
    const before = up.seen.length;
    assert.equal((await send('POST', '/items', { 'x-api-key': key }, '{"name":"x"}')).status, 200);
    assert.equal(up.seen.length, before + 1);
    assert.equal(up.seen.at(-1)?.method, 'POST');
  });
});

test('a malformed read_only setting stops start-up naming its path', async () => {
  const up = await startUpstream();
  try {
    const config = keysConfig(up.url);
    (config['apis'] as Record<string, unknown>[])[0]!['read_only'] = { enabled: 'yes' };
    await assert.rejects(startGateway(config, { files: { 'keys.yaml': SPEC }, env: TEST_ENV }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.ok(error.issues.some((i) => i.path === 'apis[0].read_only.enabled'), error.message);
      return true;
    });
  } finally {
    await up.close();
  }
});
