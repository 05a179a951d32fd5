/**
 * Request body limits (found by a red-team pass): `limits.max_body_bytes` is the default of every API and
 * operation without a limit of its own (it used to be ignored: every API took a 1 MiB schema default of its own),
 * on passthrough and spec APIs, and an operation listed for another setting does not get a default of its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { assertAlive } from '../helpers/http.ts';
import { ADMIN_CONFIG, TEST_ENV } from '../helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: b, version: 1.0.0 }
paths:
  /notes:
    post:
      operationId: createNote
      requestBody: { content: { application/json: { schema: { type: object } } } }
      responses: { '200': { description: ok } }
`;

describe('limits.max_body_bytes is the default body limit of APIs and operations without their own', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startGateway(
      {
        // The operator lowers the listener-wide default to 1 KiB; neither API sets its own max_body_bytes.
        limits: { max_body_bytes: 1024 },
        upstreams: { up: { url: up.url } },
        apis: [
          { name: 'raw', passthrough: true, upstream: 'up', base_path: '/raw' },
          // An operation listed for another setting (the case today's change is about) keeps the API's limit.
          { name: 'notes', spec: './notes.yaml', upstream: 'up', base_path: '/notes-api', response: { mode: 'off' }, operations: { createNote: { content_types: ['application/json'] } } },
        ],
        admin: ADMIN_CONFIG,
        monitor: { enabled: false },
      },
      { files: { 'notes.yaml': SPEC }, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const post = async (path: string, bytes: number) => {
    const res = await fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x'.repeat(bytes) }), signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  };

  test('a 64 KiB body is refused 413 on both APIs when limits.max_body_bytes is 1 KiB; a small one passes', async () => {
    for (const path of ['/raw/anything', '/notes-api/notes']) {
      assert.equal(await post(path, 64 * 1024), 413, path);
      assert.equal(await post(path, 100), 200, path);
    }
    assert.equal(await post('/notes-api/notes', 2 * 1024 * 1024), 413);
    await assertAlive(gw.adminUrl);
  });
});
