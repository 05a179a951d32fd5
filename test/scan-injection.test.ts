/**
 * The API10 injection probes on request bodies and the NoSQL operators in query strings, against a small library
 * API on loopback that has exactly those flaws: SQL built by string concatenation in a search body (node:sqlite;
 * one field shows the database error, the other swallows it and only the boolean pair tells), a host run through
 * a (simulated) shell by a lookup, a report whose summary alone says it is a search rendering its input as a
 * template, a create that concatenates its SQL and renders the stored text, an update whose value reaches a shell
 * blind (only its delay shows), and a list that parses `author[$ne]=` into an operator object (qs-style). Each is
 * found with evidence, category, severity and fix; the safe profile sends no payload to a create or an update; an
 * update is written back. Then the twin with each flaw fixed reports none of them, including its two traps for
 * false positives: a list that ignores the bracketed parameter (so `[$ne]` widens the answer, as does the `[$eq]`
 * control) and a report that answers 500 to any quote (the doubled-quote control breaks it too).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwtVerify, SignJWT } from 'jose';
import { runScan, type ScanResult } from '../src/scan/run.ts';
import type { Finding } from '../src/scan/types.ts';

const SPEC = `openapi: 3.1.0
info: { title: library, version: 1.0.0 }
paths:
  /books:
    get:
      operationId: listBooks
      security: [{ bearer: [] }]
      parameters: [{ name: author, in: query, required: false, schema: { type: string, maxLength: 100 } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { type: array, items: { $ref: '#/components/schemas/Book' } } } } } }
  /books/search:
    post:
      operationId: searchBooks
      summary: Find books by title or author.
      security: [{ bearer: [] }]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                title: { type: string, maxLength: 100 }
                author: { type: string, maxLength: 100 }
                isbn: { type: string, pattern: '^[0-9-]{10,17}$' }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: array, items: { $ref: '#/components/schemas/Book' } } } } } }
  /hosts/lookup:
    post:
      operationId: lookupHost
      security: []
      requestBody: { required: true, content: { application/json: { schema: { type: object, required: [host], properties: { host: { type: string, maxLength: 100 } } } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /reports:
    post:
      operationId: runReport
      summary: Query the sales ledger by customer name.
      security: []
      requestBody: { required: true, content: { application/json: { schema: { type: object, required: [customer], properties: { customer: { type: string, maxLength: 100 } } } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /queries:
    post:
      operationId: saveQuery
      summary: Save a search query for later.
      security: [{ bearer: [] }]
      requestBody: { required: true, content: { application/json: { schema: { type: object, required: [text], properties: { text: { type: string, maxLength: 100 } } } } } }
      responses: { '201': { description: saved, content: { application/json: { schema: { type: object } } } } }
  /cards:
    post:
      operationId: createCard
      security: [{ bearer: [] }]
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Card' } } } }
      responses: { '201': { description: created, content: { application/json: { schema: { $ref: '#/components/schemas/Card' } } } } }
  /cards/{cardId}:
    get:
      operationId: getCard
      security: [{ bearer: [] }]
      parameters: [{ name: cardId, in: path, required: true, schema: { type: string } }]
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Card' } } } } }
  /me:
    get:
      operationId: getMe
      security: [{ bearer: [] }]
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Profile' } } } } }
    patch:
      operationId: updateMe
      security: [{ bearer: [] }]
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Profile' } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Profile' } } } } }
  /settings:
    get:
      operationId: getSettings
      security: [{ bearer: [] }]
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Settings' } } } } }
    put:
      operationId: replaceSettings
      security: [{ bearer: [] }]
      requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/Settings' } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Settings' } } } } }
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    Book:
      type: object
      properties: { id: { type: string }, title: { type: string }, author: { type: string } }
    Card:
      type: object
      required: [message]
      properties: { id: { type: string, readOnly: true }, ownerId: { type: string, readOnly: true }, message: { type: string, maxLength: 200 } }
    Profile:
      type: object
      properties: { id: { type: string, readOnly: true }, bio: { type: string, maxLength: 200 }, password: { type: string, writeOnly: true, minLength: 8 } }
    Settings:
      type: object
      required: [theme, signature]
      properties: { theme: { type: string, enum: [light, dark] }, signature: { type: string, maxLength: 200 } }
`;

const HEADERS = { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };
const BIOS: Record<string, string> = { 'u-1': 'Reads a lot', 'u-2': 'Writes a little' };

/** A template engine the naive way: `{{a*b}}`, `${a*b}`, `<%= a*b %>`, `#{a*b}` evaluated (integer products only: a simulation). */
const renderNaively = (text: string) => text.replace(/(?:\{\{|\$\{|<%=|#\{)\s*(\d+)\s*\*\s*(\d+)\s*(?:\}\}|\}|%>)/g, (_, a: string, b: string) => String(Number(a) * Number(b)));

/**
 * A command line through a shell, simulated (nothing is executed): after `;`, `|`, inside `$(…)` or backticks,
 * `echo` prints its arguments with `$((a+b))` expanded and `sleep n` waits n seconds (at most 3).
 */
async function shellNaively(line: string): Promise<string> {
  const commands = line.split(/[;|]|\$\((?!\()|`/).slice(1).map((c) => c.replace(/[)`]+$/, '').trim());
  let out = `${line.split(/[;|$`]/)[0]}\n`;
  for (const command of commands) {
    const [program, ...args] = command.split(/\s+/);
    if (program === 'echo') out += `${args.join(' ').replace(/\$\(\((\d+)\+(\d+)\)\)/g, (_, a: string, b: string) => String(Number(a) + Number(b)))}\n`;
    if (program === 'sleep') await sleep(Math.min(Number(args[0]) || 0, 3) * 1000);
  }
  return out;
}

/** `a[$op]=v` in a query string as qs reads it: `{ a: { $op: 'v' } }`. */
function parseQueryNested(search: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of search) {
    const nested = /^([^[\]]+)\[([^[\]]+)\]$/.exec(key);
    if (!nested) out[key] = value;
    else out[nested[1]!] = { ...(typeof out[nested[1]!] === 'object' ? (out[nested[1]!] as object) : {}), [nested[2]!]: value };
  }
  return out;
}

/** A Mongo-like match of one field: a string is compared, an object is read as operators. */
function matchesNaively(actual: string, expected: unknown): boolean {
  if (typeof expected === 'string') return actual === expected;
  if (expected === null || typeof expected !== 'object') return true;
  return Object.entries(expected as Record<string, string>).every(([op, v]) => (op === '$ne' ? actual !== v : op === '$eq' ? actual === v : op === '$gt' ? actual > v : op === '$lt' ? actual < v : true));
}

const secret = new TextEncoder().encode('library-api-test-secret-0123456789abcdef');
const issue = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(secret);

interface Library {
  readonly url: string;
  /** Every request that reached the API: method, path, query string (decoded) and body. */
  readonly seen: { method: string; path: string; query: string; body: string }[];
  bio(sub: string): string | undefined;
  /** The theme in a user's settings (dark until a PUT changes it). */
  theme(sub: string): string;
  close(): Promise<void>;
}

/** The library API; `flawed` false fixes every flaw. */
async function startLibrary(flawed: boolean): Promise<Library> {
  const db = new DatabaseSync(':memory:');
  db.exec(`CREATE TABLE books (id TEXT PRIMARY KEY, title TEXT, author TEXT);
    INSERT INTO books VALUES ('b-1', 'Dune', 'Frank Herbert'), ('b-2', 'Emma', 'Jane Austen'), ('b-3', 'Ubik', 'Philip K. Dick');
    CREATE TABLE cards (id TEXT PRIMARY KEY, ownerId TEXT, message TEXT);`);
  const books = () => db.prepare('SELECT id, title, author FROM books ORDER BY id').all() as { id: string; title: string; author: string }[];
  const bios = new Map(Object.entries(BIOS));
  const settings = new Map<string, { theme: string; signature: string }>();
  const seen: Library['seen'] = [];
  let cards = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://library.local');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    seen.push({ method: req.method ?? '', path: url.pathname, query: decodeURIComponent(url.search), body: text });
    const json = (status: number, body: unknown) => void res.writeHead(status, HEADERS).end(JSON.stringify(body));
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return json(400, { title: 'Bad Request' });
    }
    const str = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : undefined);
    // Fixed: the contract's lengths are enforced (a 1 MiB title is refused, not handed to LIKE).
    if (!flawed && Object.values(body).some((v) => typeof v === 'string' && v.length > 200)) return json(400, { title: 'Bad Request' });
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /hosts/lookup') {
      const host = str('host') ?? '';
      if (!flawed) return /^[a-z0-9.-]{1,100}$/i.test(host) ? json(200, { output: `${host} has address 192.0.2.1` }) : json(400, { title: 'Bad Request' });
      return json(200, { output: await shellNaively(`nslookup ${host}`) });
    }
    if (route === 'POST /reports') {
      const customer = str('customer') ?? '';
      // Fixed, but with a broken escaper that fails on any quote: no SQL behind it, a trap for a quote-only probe.
      if (!flawed && customer.includes("'")) return json(500, { title: 'Internal Server Error' });
      return json(200, { report: flawed ? renderNaively(`Sales for ${customer}: 0`) : `Sales for ${customer}: 0` });
    }
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    let sub: string;
    try {
      sub = String((await jwtVerify(bearer ?? '', secret, { algorithms: ['HS256'] })).payload.sub);
    } catch {
      return json(401, { title: 'Unauthorized' });
    }
    if (route === 'GET /books') {
      // Flawed: `author[$ne]=x` becomes { $ne: 'x' }. Fixed: only a string filters; anything else is ignored.
      const author = flawed ? parseQueryNested(url.searchParams)['author'] : url.searchParams.get('author');
      return json(200, books().filter((b) => author === undefined || author === null || matchesNaively(b.author, author)));
    }
    if (route === 'POST /books/search') {
      const title = str('title');
      const author = str('author');
      if (!flawed) {
        if (title !== undefined) return json(200, db.prepare("SELECT id, title, author FROM books WHERE title LIKE '%' || ? || '%' ORDER BY id").all(title));
        return json(200, author === undefined ? books() : db.prepare('SELECT id, title, author FROM books WHERE author = ? ORDER BY id').all(author));
      }
      try {
        if (title !== undefined) return json(200, db.prepare(`SELECT id, title, author FROM books WHERE title LIKE '%${title}%' ORDER BY id`).all());
      } catch (error) {
        return json(500, { error: (error as Error).message });
      }
      try {
        return json(200, author === undefined ? books() : db.prepare(`SELECT id, title, author FROM books WHERE author = '${author}' ORDER BY id`).all());
      } catch {
        return json(200, []); // the error swallowed: blind
      }
    }
    if (route === 'POST /queries') return json(201, { id: 'q-1', text: str('text') ?? '' });
    if (route === 'POST /cards') {
      const message = str('message') ?? '';
      const id = `c-${++cards}`;
      try {
        if (flawed) db.exec(`INSERT INTO cards VALUES ('${id}', '${sub}', '${message}')`);
        else db.prepare('INSERT INTO cards VALUES (?, ?, ?)').run(id, sub, message);
      } catch (error) {
        return json(500, { error: (error as Error).message });
      }
      return json(201, { id, ownerId: sub, message: flawed ? renderNaively(message) : message });
    }
    const card = /^\/cards\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && card) {
      const row = db.prepare('SELECT id, ownerId, message FROM cards WHERE id = ? AND ownerId = ?').get(card[1]!, sub);
      return row ? json(200, row) : json(404, { title: 'Not Found' });
    }
    if (url.pathname === '/settings' && (req.method === 'GET' || req.method === 'PUT')) {
      // A full replacement: the theme (an enum, never probed) must be sent along with the signature.
      if (req.method === 'PUT') {
        if (str('theme') === undefined || str('signature') === undefined) return json(400, { title: 'Bad Request' });
        settings.set(sub, { theme: str('theme')!, signature: str('signature')! });
      }
      return json(200, settings.get(sub) ?? { theme: 'dark', signature: 'Kind regards' });
    }
    if (url.pathname === '/me' && (req.method === 'GET' || req.method === 'PATCH')) {
      if (req.method === 'PATCH') {
        if (Object.keys(body).some((k) => k !== 'bio' && k !== 'password') || str('bio') === undefined) return json(400, { title: 'Bad Request' });
        // Flawed: the bio is indexed by a shell command line, its output discarded (blind).
        if (flawed) await shellNaively(`index-profile ${str('bio')}`);
        bios.set(sub, str('bio')!);
      }
      return json(200, { id: sub, bio: bios.get(sub) ?? '' });
    }
    return json(404, { title: 'Not Found' });
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    bio: (s) => bios.get(s),
    theme: (s) => settings.get(s)?.theme ?? 'dark',
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        db.close();
      }),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-injection-'));
const specFile = join(dir, 'openapi.yaml');
writeFileSync(specFile, SPEC);
const identityFiles: string[] = [];
for (const [name, sub] of [['ann', 'u-1'], ['ben', 'u-2']] as const) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nrole: user\ncredential: { bearer: ${await issue(sub)} }\n`);
  identityFiles.push(file);
}

const libraries: Library[] = [];
after(() => Promise.all(libraries.map((l) => l.close())));
const start = async (flawed: boolean) => {
  const library = await startLibrary(flawed);
  libraries.push(library);
  return library;
};
const scan = (library: Library, profile: 'safe' | 'full'): Promise<ScanResult> => runScan({ specFile, target: new URL(library.url), identityFiles, rps: 200, profile });
const injections = (result: ScanResult): Finding[] => result.findings.filter((f) => f.rule.startsWith('api10.'));
/** Requests that carried a scanner payload in their body (its base value, or a template expression). */
const payloadsTo = (library: Library, method: string, path: string) => library.seen.filter((r) => r.method === method && r.path === path && /rampartscan|"rs[{$<#]/.test(r.body));

test('the plan: search bodies in both profiles, creates and updates only with --profile full, each probe counted', async () => {
  const safe = await runScan({ specFile, target: new URL('http://127.0.0.1:9'), identityFiles, dryRun: true });
  const full = await runScan({ specFile, target: new URL('http://127.0.0.1:9'), identityFiles, dryRun: true, profile: 'full' });
  const points = (result: ScanResult, rule: string) => result.planned.filter((p) => p.rule === rule).map((p) => p.endpoint);
  // Free text only (not the isbn's pattern); the report's summary makes it a search; "Save a search query" (201) is a write.
  assert.deepEqual(points(safe, 'api10.sql-injection'), ['GET /books?author=', 'POST /books/search body.title', 'POST /books/search body.author', 'POST /hosts/lookup body.host', 'POST /reports body.customer']);
  assert.deepEqual(points(full, 'api10.sql-injection'), [...points(safe, 'api10.sql-injection'), 'POST /queries body.text', 'POST /cards body.message', 'PATCH /me body.bio', 'PUT /settings body.signature']);
  assert.deepEqual(points(safe, 'api10.nosql-injection'), ['GET /books?author[$ne]=', 'POST /books/search body.title', 'POST /hosts/lookup body.host', 'POST /reports body.customer']);
  assert.ok(!full.planned.some((p) => /password/.test(p.endpoint)), 'a writeOnly password is never a target');
  assert.ok(full.planned.filter((p) => p.rule.startsWith('api10.') && /\/queries|\/cards|\/me|\/settings/.test(p.endpoint)).every((p) => p.destructive && p.identity === 'ann'));
  const sum = (result: ScanResult) => result.planned.filter((p) => p.rule.startsWith('api10.')).reduce((n, p) => n + p.maxRequests, 0);
  // Safe: SQL 5, template 5, command 8 per point (5 points); NoSQL 5 in the query, 3 per search body (3).
  assert.equal(sum(safe), 5 * 18 + 5 + 3 * 3);
  // Full adds two creates (SQL 3: no boolean pair) and two updates (+2 each: the old value read and written back).
  assert.equal(sum(full) - sum(safe), 2 * (3 + 5 + 8) + 2 * (5 + 7 + 10));
  assert.equal(safe.plannedRequests, safe.planned.reduce((n, p) => n + p.maxRequests, 0), 'the dry run counts them');
});

describe('the flawed library', () => {
  let safe: ScanResult;
  let full: ScanResult;
  let safeLibrary: Library;
  let fullLibrary: Library;
  before(async () => {
    safeLibrary = await start(true);
    safe = await scan(safeLibrary, 'safe');
    fullLibrary = await start(true);
    full = await scan(fullLibrary, 'full');
  });
  const byId = (result: ScanResult, id: string) => {
    const finding = result.findings.find((f) => f.id === id);
    assert.ok(finding, `${id} not in ${JSON.stringify(injections(result).map((f) => f.id))}`);
    assert.equal(finding.category, 'API10:2023');
    return finding;
  };

  test('each flaw is found once, and nothing else of API10; the safe profile finds the reads only', () => {
    assert.deepEqual(full.errors, []);
    const reads = ['api10.command-injection:lookupHost:body.host', 'api10.nosql-injection:listBooks:author', 'api10.sql-injection:searchBooks:body.author', 'api10.sql-injection:searchBooks:body.title', 'api10.template-injection:runReport:body.customer'];
    assert.deepEqual(injections(safe).map((f) => f.id).sort(), reads);
    assert.deepEqual(injections(full).map((f) => f.id).sort(), [...reads, 'api10.command-injection:updateMe:body.bio', 'api10.sql-injection:createCard:body.message', 'api10.template-injection:createCard:body.message'].sort());
  });

  test('the safe profile sends no payload to a create or an update', () => {
    assert.deepEqual(payloadsTo(safeLibrary, 'POST', '/cards'), []);
    assert.deepEqual(payloadsTo(safeLibrary, 'PATCH', '/me'), []);
    assert.deepEqual(payloadsTo(safeLibrary, 'POST', '/queries'), []);
    assert.ok(payloadsTo(fullLibrary, 'POST', '/queries').length > 0, 'the full profile does probe the saved query');
  });

  test('SQL in a search body: error-based (the quote breaks, the doubled quote does not) and boolean-based', () => {
    const error = byId(full, 'api10.sql-injection:searchBooks:body.title');
    assert.equal(error.severity, 'critical');
    assert.match(error.detail, /single quote in body\.title answered 500 with a database error \("unrecognized token"\); a doubled quote 200/);
    assert.equal(error.evidence[0]?.request.body, '{"title":"rampartscan\'"}');
    assert.match(error.evidence[0]?.response.body ?? '', /unrecognized token/);
    assert.equal(error.evidence[1]?.request.body, '{"title":"rampartscan\'\'"}');
    assert.equal(error.evidence[1]?.response.status, 200);
    assert.match(error.fix, /parameterised queries.*waf: \{ mode: block \}/);
    const blind = byId(full, 'api10.sql-injection:searchBooks:body.author');
    assert.equal(blind.severity, 'critical');
    assert.match(blind.detail, /body\.author=rampartscan' OR 1=1-- changed the answer/);
    assert.match(blind.evidence[0]?.response.body ?? '', /Frank Herbert/);
    assert.equal(blind.evidence[1]?.response.body, '[]');
  });

  test('command and template injection in search bodies (one a search by its summary only)', () => {
    const command = byId(safe, 'api10.command-injection:lookupHost:body.host');
    assert.equal(command.severity, 'critical');
    assert.match(command.evidence[0]?.request.body ?? '', /"host":"rampartscan;echo rs\$\(\(\d+\+\d+\)\)x"/);
    assert.match(command.evidence[0]?.response.body ?? '', /rs\d+x/);
    assert.match(command.fix, /argument array/);
    const template = byId(safe, 'api10.template-injection:runReport:body.customer');
    assert.equal(template.severity, 'critical');
    assert.match(template.detail, /^body\.customer=rs\{\{\d+\*\d+\}\}x came back as rs\d+x/);
    assert.match(template.fix, /as data, never as template source/);
  });

  test('--profile full: SQL and a template in a create, a blind shell in an update, and the update written back', () => {
    const sql = byId(full, 'api10.sql-injection:createCard:body.message');
    assert.equal(sql.severity, 'critical');
    assert.equal(sql.evidence[0]?.request.method, 'POST');
    assert.equal(sql.evidence[1]?.response.status, 201, 'the doubled quote was stored');
    assert.match(byId(full, 'api10.template-injection:createCard:body.message').evidence[0]?.response.body ?? '', /"message":"rs\d+x"/);
    const blind = byId(full, 'api10.command-injection:updateMe:body.bio');
    assert.match(blind.detail, /^body\.bio=rampartscan;sleep 2 took \d+ and \d+ ms, ;sleep 0 \d+ ms/);
    assert.equal(blind.evidence[0]?.request.method, 'PATCH');
    assert.equal(blind.evidence[0]?.request.headers['authorization'], 'Bearer ****');
    assert.equal(fullLibrary.bio('u-1'), BIOS['u-1'], 'ann\'s bio is what it was before the scan');
    assert.equal(fullLibrary.bio('u-2'), BIOS['u-2']);
    assert.ok(!fullLibrary.seen.some((r) => r.method === 'PATCH' && /password/.test(r.body)), 'the password was never written');
  });

  test('NoSQL operators in the query string: [$ne] widens the answer, the [$eq] control matches nothing', () => {
    const nosql = byId(safe, 'api10.nosql-injection:listBooks:author');
    assert.equal(nosql.severity, 'high');
    assert.match(nosql.detail, /^author\[\$ne\]=rampartscan-nomatch returned 3 result\(s\), author\[\$eq\]=rampartscan-nomatch 0 and author=rampartscan-nomatch 0/);
    assert.deepEqual(nosql.evidence.map((e) => new URL(e.request.url).search), ['?author=rampartscan-nomatch', '?author[$ne]=rampartscan-nomatch', '?author[$eq]=rampartscan-nomatch']);
    assert.match(nosql.fix, /query parser/);
  });
});

test('the library with each flaw fixed: no API10 finding, though every probe ran (an ignored [$ne] and a 500 on any quote included)', async () => {
  const library = await start(false);
  const result = await scan(library, 'full');
  assert.deepEqual(result.errors, []);
  assert.deepEqual(injections(result).map((f) => `${f.id}: ${f.detail}`), []);
  // Not vacuous: the traps were sprung, and the update was probed and written back.
  assert.ok(library.seen.some((r) => r.path === '/books' && r.query === '?author[$eq]=rampartscan-nomatch'), '[$ne] widened the list (ignored), so its control was sent');
  assert.ok(library.seen.some((r) => r.path === '/books/search' && r.body === '{"title":{"$eq":"rampartscan-nomatch"}}'), 'the same for the search body');
  assert.ok(payloadsTo(library, 'POST', '/reports').some((r) => r.body.includes("rampartscan''")), 'the doubled-quote control was sent after the 500');
  // The update: SQL (baseline, quote), template (baseline, 4 syntaxes), command (baseline, 4 echoes, one sleep: fast).
  assert.equal(payloadsTo(library, 'PATCH', '/me').length, 2 + 5 + 6);
  assert.equal(library.bio('u-1'), BIOS['u-1']);
  // The replacement sent the theme as it was (not the schema's first enum value) and wrote the signature back.
  assert.ok(payloadsTo(library, 'PUT', '/settings').length > 0, 'the settings were probed');
  assert.ok(payloadsTo(library, 'PUT', '/settings').every((r) => JSON.parse(r.body).theme === 'dark'), 'the theme was sent as it was');
  assert.equal(library.theme('u-1'), 'dark');
});
