/**
 * The probes the demo does not exercise, against a small API with exactly those flaws (loopback only): SSRF
 * through a URL parameter (the canary is hit), CORS reflecting any origin with credentials, TRACE, an honoured
 * X-HTTP-Method-Override, an old API version and a debug path answering, bearer values accepted without any
 * check, the token accepted in the query, another identity's item by `?itemId=`, a template rendered from a query
 * value, a query value run through a (simulated) shell, a business flow (`x-rampart-flow`) never throttled, and
 * (with --profile full) a DELETE without an ownership check. Then the same API with each flaw fixed reports none
 * of them. Over HTTPS: weak TLS suites, plain HTTP served, and another server of the spec answering, against the
 * same listeners fixed (strong suites, a 308 redirect, the old server gone); a server on another host is never
 * contacted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, SignJWT } from 'jose';
import { runScan } from '../src/scan/run.ts';
import { createSelfSignedCertificate } from '../src/server/certificates.ts';

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
      parameters: [{ name: itemId, in: query, required: false, schema: { type: string } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: array, items: { $ref: '#/components/schemas/Item' } } } } } }
    post:
      operationId: createItem
      security: [{ bearer: [] }]
      x-rampart-flow: { name: item-creation, max_per_minute: 3 }
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
  /v2/greet:
    get:
      operationId: greet
      security: []
      parameters: [{ name: name, in: query, required: false, schema: { type: string, maxLength: 100 } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /v2/resolve:
    get:
      operationId: resolve
      security: []
      parameters: [{ name: domain, in: query, required: false, schema: { type: string, maxLength: 100 } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /v2/ping:
    get:
      operationId: ping
      security: []
      parameters: [{ name: host, in: query, required: false, schema: { type: string, maxLength: 100 } }]
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

/**
 * A template engine the naive way: `{{a*b}}`, `${a*b}`, `<%= a*b %>` and `#{a*b}` in the input are evaluated (only
 * products of integers: a simulation, nothing is run).
 */
const renderNaively = (text: string) => text.replace(/(?:\{\{|\$\{|<%=|#\{)\s*(\d+)\s*\*\s*(\d+)\s*(?:\}\}|\}|%>)/g, (_, a: string, b: string) => String(Number(a) * Number(b)));

/**
 * `ping -c 1 <host>` through a shell, simulated (nothing is executed): after `;`, `|`, inside `$(…)` or backticks,
 * `echo` prints its arguments with `$((a+b))` expanded and `sleep n` waits n seconds (at most 3).
 */
async function shellNaively(host: string): Promise<string> {
  const commands = host.split(/[;|]|\$\((?!\()|`/).slice(1).map((c) => c.replace(/[)`]+$/, '').trim());
  let out = `PING ${host.split(/[;|$`]/)[0]}: 1 packet\n`;
  for (const command of commands) {
    const [program, ...args] = command.split(/\s+/);
    if (program === 'echo') out += `${args.join(' ').replace(/\$\(\((\d+)\+(\d+)\)\)/g, (_, a: string, b: string) => String(Number(a) + Number(b)))}\n`;
    if (program === 'sleep') await sleep(Math.min(Number(args[0]) || 0, 3) * 1000);
  }
  return out;
}

/** The API; `flawed` false fixes every flaw. The preview fetches only loopback URLs (tests never leave the machine). */
async function startLeaky(flawed: boolean): Promise<{ url: string; close(): Promise<void> }> {
  let healthHits = 0;
  const items = [{ id: 'i-1', ownerId: 'u-1', title: 'one' }];
  const created = new Map<string, number[]>();
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
    if (url.pathname === '/v2/greet') {
      const name = url.searchParams.get('name') ?? 'you';
      return json(200, { greeting: flawed ? renderNaively(`Hello ${name}`) : `Hello ${name}` });
    }
    if (url.pathname === '/v2/resolve') {
      // Blind: the shell's output is not returned, only its delay shows.
      if (flawed) await shellNaively(url.searchParams.get('domain') ?? 'localhost');
      return json(200, { resolved: true });
    }
    if (url.pathname === '/v2/ping') {
      const host = url.searchParams.get('host') ?? 'localhost';
      return json(200, { output: flawed ? await shellNaively(host) : `PING ${host}: 1 packet` });
    }
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
      // Fixed: the item-creation flow allows 3 per minute per caller, as the spec's x-rampart-flow says.
      const recent = (created.get(sub) ?? []).filter((t) => t > Date.now() - 60_000);
      if (!flawed && recent.length >= 3) return json(429, { title: 'Too Many Requests' }, { 'retry-after': '60' });
      created.set(sub, [...recent, Date.now()]);
      const item = { id: `i-${items.length + 1}`, ownerId: sub, title: 'new' };
      items.push(item);
      return json(201, item);
    }
    if (url.pathname === '/v2/items') {
      const wanted = url.searchParams.get('itemId');
      // Flawed: asked for an item by id, the list forgets whose it is.
      const visible = flawed && wanted !== null ? items : items.filter((i) => i.ownerId === sub);
      return json(200, visible.filter((i) => wanted === null || i.id === wanted));
    }
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
    'api1.bola-list',
    'api1.bola-write',
    'api10.command-injection',
    'api10.template-injection',
    'api2.alg-none',
    'api2.expired-token',
    'api2.malformed-token',
    'api2.token-in-query',
    'api2.wrong-key',
    'api5.method-override',
    'api6.unthrottled-flow',
    'api7.ssrf',
    'api8.cors-any-origin',
    'api8.trace-enabled',
    'api9.undocumented-path',
  ]);
  const byQuery = result.findings.find((f) => f.rule === 'api1.bola-list');
  assert.match(byQuery?.detail ?? '', /asked with itemId=i-\d+/, byQuery?.detail);
  const template = result.findings.find((f) => f.rule === 'api10.template-injection');
  assert.equal(template?.operation, 'greet');
  assert.match(template?.detail ?? '', /came back as rs\d+x/);
  const commands = result.findings.filter((f) => f.rule === 'api10.command-injection');
  assert.deepEqual(commands.map((f) => f.operation).sort(), ['ping', 'resolve']);
  assert.match(commands.find((f) => f.operation === 'ping')?.evidence[0]?.response.body ?? '', /rs\d+x/);
  // Blind: found by time, two 2-second sleeps against a fast sleep 0.
  assert.match(commands.find((f) => f.operation === 'resolve')?.detail ?? '', /sleep 2 took \d+ and \d+ ms, ;sleep 0 \d+ ms/);
  const flow = result.findings.find((f) => f.rule === 'api6.unthrottled-flow');
  assert.equal(flow?.operation, 'createItem');
  assert.equal(flow?.category, 'API6:2023');
  assert.match(flow?.detail ?? '', /"item-creation" flow .* ran 8 times .* none 429 \(the spec allows 3\/min\)/);
  assert.match(flow?.fix ?? '', /operations: \[ createItem \]/);
  assert.equal(flow?.evidence[1]?.request.headers['authorization'], 'Bearer ****');
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

/** Listens on 127.0.0.1 (ephemeral port); returns the port. */
async function listen(server: Server | ReturnType<typeof createHttpsServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) });
  return (server.address() as AddressInfo).port;
}

const STRONG = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305';

test('over HTTPS: weak suites, plain HTTP and another server of the spec are found; fixed, none; another host is never contacted', async () => {
  const pair = await createSelfSignedCertificate();
  for (const flawed of [true, false]) {
    const answer = (_req: IncomingMessage, res: ServerResponse) => void res.writeHead(200, { ...HEADERS, 'strict-transport-security': 'max-age=31536000' }).end('{"status":"ok"}');
    const apiPort = await listen(createHttpsServer({ ...pair, minVersion: 'TLSv1.2', ciphers: flawed ? 'DEFAULT@SECLEVEL=0' : STRONG }, answer));
    // Plain HTTP: the API itself (flawed) or a 308 to HTTPS (fixed).
    const plainPort = await listen(createServer(flawed ? answer : (req, res) => void res.writeHead(308, { location: `https://127.0.0.1:${apiPort}${req.url ?? '/'}` }).end()));
    // An old deployment on the same host, still up (flawed) or gone (fixed: nothing listens on its port).
    const oldServer = createHttpsServer({ ...pair, ciphers: STRONG }, answer);
    const oldPort = await listen(oldServer);
    if (!flawed) await new Promise<void>((resolve) => (oldServer.closeAllConnections(), oldServer.close(() => resolve())));
    const spec = join(dir, `servers-${flawed}.yaml`);
    writeFileSync(spec, `openapi: 3.1.0
info: { title: servers, version: 1.0.0 }
servers:
  - url: https://127.0.0.1:${apiPort}
  - url: http://127.0.0.1:${plainPort}
  - url: https://localhost:${oldPort}/v1
  - url: https://api.rampart-scan.invalid/
paths:
  /health:
    get:
      operationId: health
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`);
    const dry = await runScan({ specFile: spec, target: new URL(`https://127.0.0.1:${apiPort}`), identityFiles, dryRun: true });
    assert.deepEqual(dry.planned.filter((p) => p.rule === 'api8.plain-http').map((p) => p.endpoint), [`GET /health on http://127.0.0.1:${plainPort}`]);
    assert.deepEqual(dry.planned.filter((p) => p.rule === 'api9.spec-server').map((p) => p.endpoint), [`GET /health on https://localhost:${oldPort}/v1`, 'GET /health on https://api.rampart-scan.invalid/']);
    assert.equal(dry.planned.filter((p) => p.rule === 'api8.weak-tls-ciphers').length, 5);
    const result = await runScan({ specFile: spec, target: new URL(`https://127.0.0.1:${apiPort}`), identityFiles, rps: 200, insecureTls: true });
    assert.deepEqual(result.errors, []);
    const rules = [...new Set(result.findings.map((f) => f.rule))].filter((r) => ['api8.plain-http', 'api9.spec-server', 'api8.weak-tls-ciphers', 'api8.legacy-tls'].includes(r)).sort();
    assert.deepEqual(rules, flawed ? ['api8.plain-http', 'api8.weak-tls-ciphers', 'api9.spec-server'] : [], JSON.stringify(result.findings.map((f) => f.detail)));
    assert.ok(result.notes.some((n) => /api\.rampart-scan\.invalid.* not the target's host: not contacted/.test(n)), JSON.stringify(result.notes));
    if (flawed) {
      const plain = result.findings.find((f) => f.rule === 'api8.plain-http');
      assert.equal(plain?.evidence[0]?.request.url, `http://127.0.0.1:${plainPort}/health`);
      assert.equal(plain?.evidence[0]?.request.headers['authorization'], undefined, 'no credential over plain HTTP');
      assert.match(result.findings.find((f) => f.rule === 'api9.spec-server')?.detail ?? '', new RegExp(`https://localhost:${oldPort}/v1, a server the spec lists besides the target, answered GET /v1/health with 200`));
      const weak = result.findings.find((f) => f.rule === 'api8.weak-tls-ciphers');
      assert.match(weak?.detail ?? '', /CBC mode \(ECDHE-ECDSA-AES\d+-SHA\d*\)/);
      assert.equal(weak?.severity, 'low', 'CBC with forward secrecy is low; 3DES, RC4, NULL would be medium');
    }
  }
});
