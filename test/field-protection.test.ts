/**
 * Field-level protection (x-rampart-encrypt) through a real gateway in front of a real upstream that stores what it
 * gets: marked request fields reach the upstream as ciphertext only (randomized, or deterministic where marked);
 * marked response fields are decrypted for callers holding a read scope and stay ciphertext for the others; a
 * ciphertext moved into another field does not decrypt; unmarked fields and the response contract are untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV, adminCall } from './helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: crm, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
  schemas:
    Customer:
      type: object
      additionalProperties: false
      required: [name, email]
      properties:
        id: { type: string }
        name: { type: string, maxLength: 100 }
        email: { type: string, maxLength: 400, x-rampart-encrypt: true }
        ssn: { type: string, maxLength: 400, x-rampart-encrypt: { mode: deterministic, read_scopes: ['pii:admin'] } }
security: [ { apiKey: [] } ]
paths:
  /customers:
    post:
      operationId: createCustomer
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Customer' } } } }
      responses: { '201': { description: created, content: { application/json: { schema: { $ref: '#/components/schemas/Customer' } } } } }
  /customers/{id}:
    get:
      operationId: getCustomer
      parameters: [ { name: id, in: path, required: true, schema: { type: string, pattern: '^[0-9]{1,6}$' } } ]
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Customer' } } } } }
`;

describe('field-level protection', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const stored = new Map<string, Record<string, unknown>>();
  const keys: Record<string, string> = {};

  before(async () => {
    up = await startUpstream();
    up.handler = (req, res, body) => {
      if (req.method === 'POST') {
        const id = String(stored.size + 1);
        const record = { id, ...(JSON.parse(body) as Record<string, unknown>) };
        stored.set(id, record);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(record));
        return;
      }
      const record = stored.get((req.url ?? '').split('/').pop()!);
      res.writeHead(record ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(record ?? {}));
    };
    gw = await startGateway(
      {
        upstreams: { main: { url: up.url } },
        admin: ADMIN_CONFIG,
        apis: [{ name: 'crm', spec: './crm.yaml', upstream: 'main', auth: { api_keys: true }, field_protection: { keys: [{ id: 'f1', key: '${env:FIELD_KEY}' }], read_scopes: ['pii:read'] } }],
      },
      { files: { 'crm.yaml': SPEC }, env: { ...TEST_ENV, FIELD_KEY: randomBytes(32).toString('base64') } },
    );
    await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'crm-app', name: 'CRM app' });
    for (const [name, scopes] of [['writer', []], ['reader', ['pii:read']], ['admin', ['pii:read', 'pii:admin']]] as const) {
      keys[name] = (await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'crm-app', scopes })).json['key'] as string;
    }
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const call = async (key: string, path: string, body?: unknown) => {
    const res = await fetch(gw.url + path, { method: body ? 'POST' : 'GET', headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  test('marked request fields reach the upstream as ciphertext only; unmarked ones in clear', async () => {
    const created = await call(keys['writer']!, '/customers', { name: 'Ann Smith', email: 'ann@example.com', ssn: '123-45-6789' });
    assert.equal(created.status, 201);
    const seen = up.seen.at(-1)!;
    assert.doesNotMatch(seen.body, /ann@example\.com|123-45-6789/, 'no marked value in clear upstream');
    const upstreamRecord = JSON.parse(seen.body) as Record<string, string>;
    assert.equal(upstreamRecord['name'], 'Ann Smith');
    assert.match(upstreamRecord['email']!, /^rfe1\.f1\./);
    assert.match(upstreamRecord['ssn']!, /^rfd1\.f1\./);
    assert.equal(seen.headers['content-length'], String(Buffer.byteLength(seen.body)));
    // Deterministic: the same value gives the same ciphertext (searchable); randomized never repeats.
    await call(keys['writer']!, '/customers', { name: 'Ann again', email: 'ann@example.com', ssn: '123-45-6789' });
    const second = JSON.parse(up.seen.at(-1)!.body) as Record<string, string>;
    assert.equal(second['ssn'], upstreamRecord['ssn']);
    assert.notEqual(second['email'], upstreamRecord['email']);
  });

  test('responses: decrypted per read scope, ciphertext for everyone else', async () => {
    const writer = await call(keys['writer']!, '/customers/1');
    assert.equal(writer.status, 200);
    assert.match(String(writer.json['email']), /^rfe1\./);
    assert.match(String(writer.json['ssn']), /^rfd1\./);
    assert.equal(writer.json['name'], 'Ann Smith');
    const reader = await call(keys['reader']!, '/customers/1');
    assert.equal(reader.json['email'], 'ann@example.com');
    assert.match(String(reader.json['ssn']), /^rfd1\./, 'ssn needs pii:admin');
    const admin = await call(keys['admin']!, '/customers/1');
    assert.equal(admin.json['email'], 'ann@example.com');
    assert.equal(admin.json['ssn'], '123-45-6789');
    // The answer to the create call itself (the upstream echoes what it stored) follows the same rule.
    const created = await call(keys['reader']!, '/customers', { name: 'Bob', email: 'bob@example.com' });
    assert.equal(created.json['email'], 'bob@example.com');
  });

  test('a ciphertext moved into another field, or tampered, does not decrypt (sent as null, never as another value)', async () => {
    const record = stored.get('1')!;
    stored.set('9', { id: '9', name: 'Mallory', email: record['ssn'], ssn: record['email'] });
    const swapped = await call(keys['admin']!, '/customers/9');
    assert.equal(swapped.status, 502, 'null is not a string: the response contract refuses the answer');
    const value = String(record['email']);
    stored.set('10', { id: '10', name: 'Eve', email: `${value.slice(0, -2)}${value.endsWith('A') ? 'B' : 'A'}${value.slice(-1)}` });
    assert.equal((await call(keys['admin']!, '/customers/10')).status, 502);
    assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200);
  });

  test('marked fields without a key stop start-up naming the config path', async () => {
    await assert.rejects(
      startGateway({ upstreams: { main: { url: up.url } }, admin: ADMIN_CONFIG, apis: [{ name: 'crm', spec: './crm.yaml', upstream: 'main', auth: { api_keys: true } }] }, { files: { 'crm.yaml': SPEC }, env: TEST_ENV }),
      /apis\[0\]\.field_protection\.keys/,
    );
  });
});
