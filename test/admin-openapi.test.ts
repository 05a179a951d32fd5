/**
 * The admin listener's OpenAPI document (GET /admin/v1/openapi.json) describes exactly the routes the listener
 * serves — each documented operation exists and each registered route is documented, public ones marked public —
 * and is a valid OpenAPI 3.1 document; the responses it promises for a few live calls are what comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, KEYS_SPEC, READ_TOKEN, TEST_ENV } from './helpers/apikeys.ts';

type Operation = { security?: unknown[]; 'x-rampart-role'?: string; responses: Record<string, unknown> };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

describe('the admin OpenAPI document', () => {
  let gw: TestGateway;
  let doc: Doc;
  before(async () => {
    gw = await startGateway(
      { upstreams: { main: { url: 'http://127.0.0.1:9' } }, admin: ADMIN_CONFIG, identity: { enabled: true }, apis: [{ name: 'keys', spec: './keys.yaml', upstream: 'main', auth: { api_keys: true } }] },
      { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV },
    );
    const res = await fetch(`${gw.adminUrl}/admin/v1/openapi.json`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    assert.equal(res.status, 200);
    doc = (await res.json()) as Doc;
  });
  after(async () => {
    await gw?.close();
  });

  test('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  test('documents every route the listener serves, and nothing it does not', () => {
    const served = gw.gateway.admin.routes.map((r) => ({ key: `${r.method} ${r.path.replace(/:([a-zA-Z]+)/g, '{$1}')}`, public: r.public }));
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })));
    assert.deepEqual(documented.map((d) => d.key).sort(), served.map((s) => s.key).sort());
    for (const route of served) {
      const operation = documented.find((d) => d.key === route.key)!.operation;
      assert.equal(Array.isArray(operation.security) && operation.security.length === 0, route.public, `${route.key}: public in the document iff public on the listener`);
      if (!route.public) assert.ok(['read_only', 'admin'].includes(operation['x-rampart-role'] ?? ''), `${route.key} names its role`);
      // The role the document states is the one the listener enforces: a read_only token may call exactly the reads.
      if (!route.public) assert.equal(operation['x-rampart-role'], route.key.startsWith('GET ') ? 'read_only' : 'admin', route.key);
    }
  });

  test('live answers match it: a read_only token may read and may not write; paging ends with next: null', async () => {
    const call = (method: string, path: string, token: string, body?: unknown) =>
      fetch(`${gw.adminUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.equal((await call('POST', '/admin/v1/consumers', READ_TOKEN, { name: 'x' })).status, 403);
    for (const id of ['pg-a', 'pg-b', 'pg-c']) assert.equal((await call('POST', '/admin/v1/consumers', ADMIN_TOKEN, { id, name: id })).status, 201, 'the documented status');
    const seen: string[] = [];
    let after = '';
    for (let pages = 0; pages < 10; pages++) {
      const res = await call('GET', `/admin/v1/consumers?limit=2${after ? `&after=${after}` : ''}`, READ_TOKEN);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { items: { id: string }[]; next: string | null };
      assert.ok(body.items.length > 0, 'no empty page: the one before it said next: null');
      seen.push(...body.items.map((c) => c.id));
      if (body.next === null) break;
      assert.equal(body.next, body.items.at(-1)!.id);
      after = body.next;
    }
    assert.deepEqual(seen.filter((id) => id.startsWith('pg-')), ['pg-a', 'pg-b', 'pg-c'], 'every consumer, once, in order');
    assert.equal((await call('GET', '/admin/v1/consumers?limit=501', READ_TOKEN)).status, 400, 'a page over the documented maximum is refused');
  });

  test('every list on the listener answers one envelope { items, next } and pages by limit/after to next: null', async () => {
    const lists = Object.entries(doc.paths).filter(([path, item]) => {
      const schema = (item['get']?.responses['200'] as { content?: Record<string, { schema?: { required?: string[] } }> } | undefined)?.content?.['application/json']?.schema;
      return !path.includes('{') && schema?.required?.includes('items') && schema.required.includes('next');
    });
    const paths = lists.map(([path]) => path).sort();
    for (const expected of ['/admin/v1/consumers', '/admin/v1/keys', '/admin/v1/events', '/admin/v1/incidents', '/admin/v1/blocks', '/admin/v1/ratelimit/counters', '/admin/v1/ratelimit/lockouts', '/admin/v1/ratelimit/concurrency']) {
      assert.ok(paths.includes(expected), `${expected} is documented as a page`);
    }
    const get = (path: string) => fetch(`${gw.adminUrl}${path}`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    for (const path of paths) {
      const seen: string[] = [];
      let after: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const res = await get(`${path}?limit=1${after !== null ? `&after=${encodeURIComponent(after)}` : ''}`);
        assert.equal(res.status, 200, path);
        const body = (await res.json()) as { items: unknown[]; next: string | null };
        assert.ok(Array.isArray(body.items) && (body.next === null || typeof body.next === 'string'), `${path}: the envelope`);
        assert.ok(body.items.length <= 1, `${path}: limit honoured`);
        seen.push(...body.items.map((i) => JSON.stringify(i)));
        if (body.next === null) break;
        assert.ok(body.items.length === 1, `${path}: a page that says more follows is not empty`);
        after = body.next;
      }
      assert.equal(new Set(seen).size, seen.length, `${path}: no item twice`);
      assert.equal((await get(`${path}?limit=0`)).status, 400, `${path}: limit 0 refused`);
      assert.equal((await get(`${path}?limit=abc`)).status, 400, `${path}: limit abc refused`);
    }
    const events = (await (await get('/admin/v1/events?limit=1')).json()) as { items: { seq: number }[]; next: string | null };
    assert.equal(events.next, String(events.items[0]!.seq), 'the events cursor is the last seq shown (consumers were created above)');
    assert.equal((await get('/admin/v1/events?after=not-a-seq')).status, 400);
    assert.equal((await get('/admin/v1/incidents?after=%00')).status, 400);
  });
});
