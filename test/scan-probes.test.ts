/**
 * The probes the demo does not exercise, against a small API with exactly those flaws (loopback only): SSRF
 * through a URL parameter (the canary is hit), CORS reflecting any origin with credentials, TRACE, an honoured
 * X-HTTP-Method-Override, an old API version and a debug path answering, bearer values accepted without any
 * check, the token accepted in the query, and (with --profile full) a DELETE without an ownership check. Then
 * the same API with each flaw fixed reports none of them.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, SignJWT } from 'jose';
import { runScan } from '../src/scan/run.ts';

const SPEC = `openapi: 3.1.0
info: { title: leaky, version: 1.0.0 }
paths:
  /v2/health:
    get:
      operationId: health
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /v2/items:
    get:
      operationId: listItems
      security: [{ bearer: [] }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: array, items: { $ref: '#/components/schemas/Item' } } } } } }
    post:
      operationId: createItem
      security: [{ bearer: [] }]
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } }
      responses: { '201': { description: created, content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } } }
  /v2/items/{itemId}:
    parameters: [{ name: itemId, in: path, required: true, schema: { type: string } }]
    get:
      operationId: getItem
      security: [{ bearer: [] }]
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } } }
    delete:
      operationId: deleteItem
      security: [{ bearer: [] }]
      responses: { '204': { description: deleted } }
  /v2/preview:
    get:
      operationId: preview
      security: [{ bearer: [] }]
      parameters: [{ name: url, in: query, required: true, schema: { type: string, format: uri } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    Item:
      type: object
      additionalProperties: false
      required: [title]
      properties: { id: { type: string, readOnly: true }, ownerId: { type: string, readOnly: true }, title: { type: string } }
`;

const HEADERS = { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'content-security-policy': "frame-ancestors 'none'" };

/** The API; `flawed` false fixes every flaw. The preview fetches only loopback URLs (tests never leave the machine). */
async function startLeaky(flawed: boolean): Promise<{ url: string; close(): Promise<void> }> {
  let healthHits = 0;
  const items = [{ id: 'i-1', ownerId: 'u-1', title: 'one' }];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://leaky.local');
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const origin = req.headers.origin;
      const cors: Record<string, string> = flawed && origin ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true' } : {};
      res.writeHead(status, { ...HEADERS, ...cors, ...extra }).end(JSON.stringify(body));
    };
    if (req.method === 'TRACE') return flawed ? json(200, { echo: req.headers }) : json(405, { title: 'Method Not Allowed' });
    const override = req.headers['x-http-method-override'];
    const method = flawed && typeof override === 'string' ? override.toUpperCase() : req.method;
    const itemWrite = (method === 'POST' && url.pathname === '/v2/items') || (method === 'DELETE' && url.pathname.startsWith('/v2/items/'));
    if (method !== 'GET' && !itemWrite) return json(405, { title: 'Method Not Allowed' });
    if (url.pathname === '/v2/health') return ++healthHits > 5 ? json(429, { title: 'Too Many Requests' }) : json(200, { status: 'ok' });
    if (flawed && (url.pathname === '/v1/items' || url.pathname === '/debug')) return json(200, { debug: true });
    if (!['/v2/items', '/v2/preview'].includes(url.pathname) && !url.pathname.startsWith('/v2/items/')) return json(404, { title: 'Not Found' });
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? (flawed ? url.searchParams.get('access_token') : null);
    // Flawed: any bearer value is taken (its sub read unverified); fixed: only the issued tokens.
    if (!bearer || (!flawed && !issued.includes(bearer))) return json(401, { title: 'Unauthorized' });
    let sub = '';
    try {
      sub = String(decodeJwt(bearer).sub ?? '');
    } catch {
      sub = '';
    }
    if (url.pathname === '/v2/items' && req.method === 'POST') {
      const item = { id: `i-${items.length + 1}`, ownerId: sub, title: 'new' };
      items.push(item);
      return json(201, item);
    }
    if (url.pathname === '/v2/items') return json(200, items.filter((i) => i.ownerId === sub));
    const itemPath = /^\/v2\/items\/([^/]+)$/.exec(url.pathname);
    if (itemPath) {
      const index = items.findIndex((i) => i.id === itemPath[1] && (i.ownerId === sub || (flawed && req.method === 'DELETE')));
      if (index === -1) return json(404, { title: 'Not Found' });
      if (req.method === 'DELETE') {
        items.splice(index, 1);
        return void res.writeHead(204, HEADERS).end();
      }
      return json(200, items[index]);
    }
    const target = url.searchParams.get('url') ?? '';
    if (flawed && /^http:\/\/127\.0\.0\.1:\d+\//.test(target)) await fetch(target, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    return json(200, { previewed: true });
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const secret = new TextEncoder().encode('leaky-api-test-secret-0123456789abcdef');
const issue = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(secret);
const issued = [await issue('u-1'), await issue('u-2'), await issue('u-admin')];
const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-probes-'));
const specFile = join(dir, 'openapi.yaml');
writeFileSync(specFile, SPEC);
const identityFiles = ['a', 'c', 'b'].map((name) => join(dir, `${name}.yaml`));
writeFileSync(identityFiles[0]!, `name: a\ncredential: { bearer: ${issued[0]} }\n`);
writeFileSync(identityFiles[1]!, `name: c\ncredential: { bearer: ${issued[1]} }\n`);
writeFileSync(identityFiles[2]!, `name: b\nrole: admin\ncredential: { bearer: ${issued[2]} }\n`);

const servers: { close(): Promise<void> }[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

test('each flaw is found by its probe, SSRF by a hit on the scanner\'s canary', async () => {
  const api = await startLeaky(true);
  servers.push(api);
  const result = await runScan({ specFile, target: new URL(api.url), identityFiles, rps: 200, profile: 'full' });
  assert.deepEqual(result.errors, []);
  assert.deepEqual([...new Set(result.findings.map((f) => f.rule))].sort(), [
    'api1.bola-write',
    'api2.alg-none',
    'api2.expired-token',
    'api2.malformed-token',
    'api2.token-in-query',
    'api2.wrong-key',
    'api5.method-override',
    'api7.ssrf',
    'api8.cors-any-origin',
    'api8.trace-enabled',
    'api9.undocumented-path',
  ]);
  const write = result.findings.find((f) => f.rule === 'api1.bola-write');
  assert.equal(write?.operation, 'deleteItem');
  assert.match(write?.evidence[0]?.request.method ?? '', /^POST$/, 'the victim\'s create is the first evidence');
  assert.equal(write?.evidence[1]?.response.status, 204);
  const safe = await runScan({ specFile, target: new URL(api.url), identityFiles, rps: 200, dryRun: true });
  assert.ok(!safe.planned.some((p) => p.rule === 'api1.bola-write'), 'the safe profile plans no write to another identity\'s object');
  const ssrf = result.findings.find((f) => f.rule === 'api7.ssrf');
  assert.equal(ssrf?.operation, 'preview');
  assert.match(ssrf?.evidence[0]?.request.url ?? '', /url=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Frampart-canary%2F[a-f0-9]+/);
  assert.deepEqual(result.findings.filter((f) => f.rule === 'api9.undocumented-path').map((f) => f.endpoint).sort(), ['GET /debug', 'GET /v1/items']);
  const inQuery = result.findings.find((f) => f.rule === 'api2.token-in-query');
  assert.match(inQuery?.evidence[0]?.request.url ?? '', /access_token=\*\*\*\*/, 'the token in the URL is masked');
  assert.equal(inQuery?.evidence[0]?.request.headers['authorization'], undefined);
});

test('the same API with each flaw fixed: none of them is reported', async () => {
  const api = await startLeaky(false);
  servers.push(api);
  const result = await runScan({ specFile, target: new URL(api.url), identityFiles, rps: 200, profile: 'full' });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.findings.map((f) => `${f.id}: ${f.detail}`), []);
  assert.ok(result.planned.some((p) => p.rule === 'api1.bola-write' && p.destructive));
});
