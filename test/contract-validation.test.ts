/**
 * The request/response contract through a real gateway and upstream, for the parts the demo suite does not cover:
 * form and multipart bodies (part caps), header and cookie parameters, query styles, the relaxed
 * `additional_properties: allow` setting, response caps, undeclared response statuses and media types (enforce and
 * monitor), list ownership in deny mode (`every`), CEL rules over `now`, and CEL compile errors at start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';

const OBJECT_200 = `{ '200': { description: ok, content: { application/json: { schema: { type: object } } } } }`;

const SPEC = `openapi: 3.1.0
info: { title: contract, version: '1' }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
paths:
  /forms:
    post:
      operationId: submitForm
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [title]
              properties:
                title: { type: string, maxLength: 20 }
                quantity: { type: integer, minimum: 1 }
                tags: { type: array, items: { type: string, maxLength: 5 }, maxItems: 3 }
          multipart/form-data:
            schema:
              type: object
              required: [title]
              properties:
                title: { type: string, maxLength: 20 }
                quantity: { type: integer, minimum: 1 }
                file: { type: string, format: binary }
      responses: ${OBJECT_200}
  /params/{id}:
    get:
      operationId: getParams
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
        - { name: X-Mode, in: header, required: true, schema: { type: string, enum: [fast, slow] } }
        - { name: X-Count, in: header, schema: { type: integer, maximum: 10 } }
        - { name: session, in: cookie, required: true, schema: { type: string, pattern: '^s-[a-z0-9]+$' } }
        - { name: theme, in: cookie, schema: { type: string, enum: [dark, light] } }
      responses: ${OBJECT_200}
  /search:
    get:
      operationId: search
      parameters:
        - { name: tag, in: query, schema: { type: array, items: { type: string, maxLength: 5 } } }
        - { name: ids, in: query, explode: false, schema: { type: array, items: { type: integer }, maxItems: 3 } }
        - name: filter
          in: query
          style: deepObject
          explode: true
          schema: { type: object, properties: { color: { type: string, enum: [red, blue] }, size: { type: integer } } }
        - { name: pipes, in: query, style: pipeDelimited, explode: false, schema: { type: array, items: { type: string, enum: [a, b] }, maxItems: 2 } }
        - { name: spaces, in: query, style: spaceDelimited, explode: false, schema: { type: array, items: { type: integer } } }
      responses: ${OBJECT_200}
  /styles/{ids}/{colours}:
    get:
      operationId: pathStyles
      parameters:
        - { name: ids, in: path, required: true, style: label, schema: { type: array, items: { type: integer }, maxItems: 3 } }
        - { name: colours, in: path, required: true, style: matrix, explode: true, schema: { type: array, items: { type: string, enum: [red, blue] } } }
        - name: where
          in: query
          content:
            application/json:
              schema: { type: object, required: [lat], properties: { lat: { type: number, minimum: -90, maximum: 90 } } }
      responses: ${OBJECT_200}
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                id: { type: string, readOnly: true }
                text: { type: string }
                tags: { type: array, items: { type: string, maxLength: 100 } }
                meta: { type: object }
      responses: ${OBJECT_200}
  /big:
    get:
      operationId: getBig
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { type: object, properties: { items: { type: array, items: { type: string } } } }
  /status:
    get:
      operationId: getStatus
      parameters:
        - { name: kind, in: query, schema: { type: string } }
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { type: object, properties: { ok: { type: boolean } } }
  /profile:
    get:
      operationId: getProfile
      parameters: [{ name: variant, in: query, schema: { type: string } }]
      responses:
        '2XX':
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties:
                  id: { type: integer }
                  email: { type: string }
                  ssn: { type: string }
                  password: { type: string, writeOnly: true }
                  cards:
                    type: array
                    items: { type: object, properties: { number: { type: string, x-rampart-sensitive: mask }, label: { type: string } } }
        default:
          description: error
          content:
            application/problem+json:
              schema: { type: object, properties: { title: { type: string } } }
  /mine:
    get:
      operationId: listMine
      security: [{ bearer: [] }]
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { type: array, items: { type: object, properties: { id: { type: integer }, ownerId: { type: string } } } }
  /open-window:
    get:
      operationId: openWindow
      responses: ${OBJECT_200}
  /closed-window:
    get:
      operationId: closedWindow
      responses: ${OBJECT_200}
  /office:
    get:
      operationId: office
      responses: ${OBJECT_200}
`;

let issuer: TestIssuer;
let upstream: TestUpstream;
let gw: TestGateway;

function upstreamHandler(): TestUpstream['handler'] {
  return (req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const path = `/${url.pathname.split('/').filter(Boolean).pop() ?? ''}`;
    const json = (status: number, value: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof value === 'string' ? value : JSON.stringify(value));
    };
    if (path === '/big') return json(200, { items: Array.from({ length: 40 }, (_, i) => `item-${i}`), secret: 'internal' });
    if (path === '/status') {
      const kind = url.searchParams.get('kind');
      if (kind === 'created') return json(201, { ok: true });
      if (kind === 'html') return json(200, '<html>stack trace</html>', 'text/html');
      return json(200, { ok: true, debug: 'internal' });
    }
    if (path === '/notes') return json(200, { bytes: Buffer.byteLength(body) });
    if (path === '/profile') {
      const profile = { id: 1, email: 'al@x.io', ssn: '078-05-1120', password: 'hunter2', internal: 'x', cards: [{ number: '4111', label: 'main', cvv: '123' }] };
      const variant = url.searchParams.get('variant');
      if (variant === 'wrongtype') return json(200, { ...profile, id: 'one' });
      if (variant === 'accepted') return json(202, profile);
      if (variant === 'error') return json(500, { title: 'boom', stack: 'at db.query' }, 'application/problem+json');
      const encoded: Record<string, () => Buffer> = {
        gzip: () => gzipSync(JSON.stringify(profile)),
        br: () => brotliCompressSync(JSON.stringify(profile)),
        zstd: () => Buffer.from(JSON.stringify(profile)),
        // 9 MiB of JSON whitespace in a few KiB: over the 8 MiB decoding cap.
        bomb: () => gzipSync(Buffer.concat([Buffer.from('{"id":1'), Buffer.alloc(9 * 1024 * 1024, 0x20), Buffer.from('}')])),
      };
      if (variant !== null && encoded[variant]) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': variant === 'bomb' ? 'gzip' : variant });
        return res.end(encoded[variant]());
      }
      return json(200, profile);
    }
    if (path === '/mine') {
      const items = [{ id: 1, ownerId: 'alice' }, { id: 2, ownerId: 'alice' }];
      return json(200, req.headers['x-mixed'] ? [...items, { id: 3, ownerId: 'bob' }] : items);
    }
    if (String(req.headers['content-type']).startsWith('multipart/')) {
      return json(200, { contentType: req.headers['content-type'], bytes: Buffer.byteLength(body), file: body.includes('x'.repeat(900)) });
    }
    return json(200, { method: req.method, url: req.url, contentType: req.headers['content-type'] ?? null, body });
  };
}

before(async () => {
  issuer = await startTestIssuer('contract-api');
  upstream = await startUpstream();
  upstream.handler = upstreamHandler();
  const auth = { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'contract-api', jwks_url: `${issuer.url}/jwks` }] } };
  const api = (name: string, extra: Record<string, unknown> = {}) => ({ name, spec: './contract.yaml', upstream: 'main', base_path: `/${name}`, auth, ...extra });
  gw = await startGateway(
    {
      // Many deliberate 400s from one IP: the monitor's auto-block is not what these tests measure.
      monitor: { enabled: false },
      upstreams: { main: { url: upstream.url } },
      apis: [
        api('strict', {
          validation: { max_part_bytes: 1024, max_parts: 4 },
          response: { max_body_bytes: 200, sensitive_fields: { email: 'mask', ssn: 'drop' } },
          owner_rules: { listMine: { every: 'item.ownerId == identity.subject' } },
          rules: {
            openWindow: 'now > timestamp("2020-01-01T00:00:00Z")',
            closedWindow: 'now < timestamp("2020-01-01T00:00:00Z")',
            office: 'now.getHours("Europe/Berlin") >= 0 && now.getHours("Europe/Berlin") < 24',
          },
        }),
        api('relaxed', { validation: { additional_properties: 'allow', readonly_in_requests: 'allow', max_string_length: 8, max_array_items: 2, max_depth: 3 } }),
        api('monitor', { response: { mode: 'monitor', max_body_bytes: 200 } }),
        api('forbid', { owner_rules: { listMine: { every: 'item.ownerId == identity.subject', deny_status: 403 } } }),
      ],
    },
    { files: { 'contract.yaml': SPEC } },
  );
});
after(async () => {
  await gw?.close();
  await upstream?.close();
  await issuer?.close();
});

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: () => Record<string, unknown>;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(gw.url + path, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Asserts a problem+json of `code`; returns its field errors' pointers. */
function problem(answer: Answer, status: number, code: string): string[] {
  assert.equal(answer.status, status, answer.text);
  const body = answer.json();
  assert.equal(body['type'], `https://rampart.dev/problems/${code}`);
  return ((body['errors'] as { pointer: string }[] | undefined) ?? []).map((e) => e.pointer);
}

/** Runs `fn` and asserts the upstream saw no new request. */
async function unreached<T>(fn: () => Promise<T>): Promise<T> {
  const before = upstream.seen.length;
  const result = await fn();
  assert.equal(upstream.seen.length, before, 'the upstream must not be reached');
  return result;
}

const form = (fields: string) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields });

describe('application/x-www-form-urlencoded bodies', () => {
  test('a valid form passes with the original bytes; numbers are coerced, repeated fields are lists', async () => {
    const res = await call('/strict/forms', form('title=lamp&quantity=3&tags=a&tags=b'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json()['body'], 'title=lamp&quantity=3&tags=a&tags=b');
  });

  test('wrong types, limits, missing and undeclared fields are refused with the field named', async () => {
    await unreached(async () => {
      assert.deepEqual(problem(await call('/strict/forms', form('title=lamp&quantity=abc')), 400, 'validation_failed'), ['body/quantity']);
      assert.deepEqual(problem(await call('/strict/forms', form('title=lamp&quantity=0')), 400, 'validation_failed'), ['body/quantity']);
      assert.deepEqual(problem(await call('/strict/forms', form(`title=${'x'.repeat(21)}`)), 400, 'validation_failed'), ['body/title']);
      assert.deepEqual(problem(await call('/strict/forms', form('quantity=2')), 400, 'validation_failed'), ['body/title']);
      assert.deepEqual(problem(await call('/strict/forms', form('title=lamp&role=admin')), 400, 'validation_failed'), ['body/role']);
      assert.deepEqual(problem(await call('/strict/forms', form('title=lamp&tags=a&tags=b&tags=c&tags=d')), 400, 'validation_failed'), ['body/tags']);
      problem(await call('/strict/forms', form('title=lamp&__proto__=x')), 400, 'validation_failed');
    });
  });

  test('numeric fields accept canonical numerals only (type confusion: 0x10, " 5", 1e2)', async () => {
    await unreached(async () => {
      for (const quantity of ['0x10', '%205', '1e2', '2.0']) {
        assert.deepEqual(problem(await call('/strict/forms', form(`title=lamp&quantity=${quantity}`)), 400, 'validation_failed'), ['body/quantity'], quantity);
      }
    });
  });

  test('the value is not echoed back in the problem', async () => {
    const res = await call('/strict/forms', form('title=lamp&quantity=%3Cscript%3Ealert(1)%3C%2Fscript%3E'));
    assert.equal(res.status, 400);
    assert.doesNotMatch(res.text, /script|alert/);
  });
});

describe('multipart/form-data bodies', () => {
  const multipart = (entries: [string, string | Blob][]) => {
    const data = new FormData();
    for (const [name, value] of entries) data.append(name, value);
    return { method: 'POST', body: data };
  };

  test('a valid multipart body with a file reaches the upstream', async () => {
    const res = await call('/strict/forms', multipart([['title', 'lamp'], ['quantity', '2'], ['file', new Blob(['x'.repeat(900)])]]));
    assert.equal(res.status, 200, res.text);
    assert.match(String(res.json()['contentType']), /^multipart\/form-data; boundary=/);
    assert.equal(res.json()['file'], true);
  });

  test('a part over max_part_bytes answers 413, a text part too', async () => {
    await unreached(async () => {
      problem(await call('/strict/forms', multipart([['title', 'lamp'], ['file', new Blob(['x'.repeat(1025)])]])), 413, 'payload_too_large');
      problem(await call('/strict/forms', multipart([['title', 'x'.repeat(1025)]])), 413, 'payload_too_large');
    });
  });

  test('more parts than max_parts, undeclared fields and wrong types are refused', async () => {
    await unreached(async () => {
      const many: [string, string][] = [['title', 'lamp'], ['quantity', '1'], ['quantity', '2'], ['quantity', '3'], ['quantity', '4']];
      problem(await call('/strict/forms', multipart(many)), 400, 'validation_failed');
      assert.deepEqual(problem(await call('/strict/forms', multipart([['title', 'lamp'], ['isAdmin', 'true']])), 400, 'validation_failed'), ['body/isAdmin']);
      assert.deepEqual(problem(await call('/strict/forms', multipart([['title', 'lamp'], ['quantity', 'many']])), 400, 'validation_failed'), ['body/quantity']);
      assert.deepEqual(problem(await call('/strict/forms', multipart([['title', 'lamp'], ['quantity', '0x10']])), 400, 'validation_failed'), ['body/quantity']);
    });
  });

  test('a malformed multipart body is refused', async () => {
    const res = await unreached(() =>
      call('/strict/forms', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=zzz' }, body: '--zzz\r\nContent-Disposition: form-data; name="title"\r\n\r\nlamp\r\n' }),
    );
    problem(res, 400, 'validation_failed');
  });
});

describe('header and cookie parameters', () => {
  const headers = (extra: Record<string, string>) => ({ headers: { 'x-mode': 'fast', cookie: 'session=s-abc1; other=1', ...extra } });

  test('declared headers and cookies that match pass', async () => {
    assert.equal((await call('/strict/params/7', headers({ 'x-count': '3', cookie: 'theme=dark; session=s-abc1' }))).status, 200);
    assert.equal((await call('/strict/params/7', headers({}))).status, 200);
  });

  test('missing, mistyped or out-of-enum headers are refused', async () => {
    await unreached(async () => {
      assert.deepEqual(problem(await call('/strict/params/7', { headers: { cookie: 'session=s-abc1' } }), 400, 'validation_failed'), ['header/x-mode']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ 'x-mode': 'turbo' })), 400, 'validation_failed'), ['header/x-mode']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ 'x-count': 'abc' })), 400, 'validation_failed'), ['header/x-count']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ 'x-count': '11' })), 400, 'validation_failed'), ['header/x-count']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ 'x-count': '0x5' })), 400, 'validation_failed'), ['header/x-count']);
    });
  });

  test('missing or malformed cookies are refused', async () => {
    await unreached(async () => {
      assert.deepEqual(problem(await call('/strict/params/7', { headers: { 'x-mode': 'fast' } }), 400, 'validation_failed'), ['cookie/session']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ cookie: 'session=S-ABC' })), 400, 'validation_failed'), ['cookie/session']);
      assert.deepEqual(problem(await call('/strict/params/7', headers({ cookie: 'session=s-1; theme=neon' })), 400, 'validation_failed'), ['cookie/theme']);
      // The same cookie twice: frameworks disagree on which one wins, so it is refused (cookie pollution).
      assert.deepEqual(problem(await call('/strict/params/7', headers({ cookie: 'session=s-1; session=s-2' })), 400, 'validation_failed'), ['cookie/session']);
    });
  });

  test('the path parameter is typed too', async () => {
    assert.deepEqual(problem(await unreached(() => call('/strict/params/seven', headers({}))), 400, 'validation_failed'), ['path/id']);
  });
});

describe('query styles', () => {
  test('form exploded arrays (?tag=a&tag=b) pass; an item over its maxLength is refused', async () => {
    assert.equal((await call('/strict/search?tag=a&tag=b')).status, 200);
    assert.equal((await call('/strict/search?tag=a')).status, 200);
    assert.deepEqual(problem(await call('/strict/search?tag=a&tag=toolong'), 400, 'validation_failed'), ['query/tag/1']);
  });

  test('form arrays not exploded (?ids=1,2,3) are split and each item typed', async () => {
    assert.equal((await call('/strict/search?ids=1,2,3')).status, 200);
    assert.deepEqual(problem(await call('/strict/search?ids=1,x'), 400, 'validation_failed'), ['query/ids/1']);
    assert.deepEqual(problem(await call('/strict/search?ids=1,2,3,4'), 400, 'validation_failed'), ['query/ids']);
    // One key only: a repeated non-exploded parameter is pollution (an upstream may read either value).
    assert.deepEqual(problem(await call('/strict/search?ids=1&ids=2'), 400, 'validation_failed'), ['query/ids']);
  });

  // Raw `[`, `]` and `|` are outside RFC 3986's query characters and refused by normalisation: clients encode them.
  const enc = (query: string) => query.replace(/\[/g, '%5B').replace(/\]/g, '%5D').replace(/\|/g, '%7C');

  test('deepObject (?filter[color]=red&filter[size]=3) is validated as an object, undeclared keys refused', async () => {
    assert.equal((await call(`/strict/search?${enc('filter[color]=red&filter[size]=3')}`)).status, 200);
    assert.deepEqual(problem(await call(`/strict/search?${enc('filter[size]=big')}`), 400, 'validation_failed'), ['query/filter/size']);
    assert.deepEqual(problem(await call(`/strict/search?${enc('filter[color]=green')}`), 400, 'validation_failed'), ['query/filter/color']);
    assert.deepEqual(problem(await call(`/strict/search?${enc('filter[owner]=bob')}`), 400, 'validation_failed'), ['query/filter/owner']);
    problem(await call('/strict/search?filter[color]=red'), 400, 'bad_request');
    // A prototype key must not vanish from what the validator sees while the upstream still receives it.
    assert.deepEqual(problem(await call(`/strict/search?${enc('filter[color]=red&filter[__proto__]=x')}`), 400, 'validation_failed'), ['query/filter/__proto__']);
  });

  test('pipeDelimited and spaceDelimited arrays are split on their delimiter', async () => {
    assert.equal((await call(`/strict/search?${enc('pipes=a|b')}`)).status, 200);
    assert.deepEqual(problem(await call(`/strict/search?${enc('pipes=a|c')}`), 400, 'validation_failed'), ['query/pipes/1']);
    assert.deepEqual(problem(await call(`/strict/search?${enc('pipes=a|b|a')}`), 400, 'validation_failed'), ['query/pipes']);
    assert.equal((await call('/strict/search?spaces=1%202%203')).status, 200);
    assert.deepEqual(problem(await call('/strict/search?spaces=1%20x'), 400, 'validation_failed'), ['query/spaces/1']);
  });

  test('path label and matrix styles and a JSON-content query parameter are parsed per their style', async () => {
    assert.equal((await call('/strict/styles/.1,2,3/;colours=red;colours=blue')).status, 200);
    assert.deepEqual(problem(await call('/strict/styles/.1,x/;colours=red'), 400, 'validation_failed'), ['path/ids/1']);
    assert.deepEqual(problem(await call('/strict/styles/.1,2,3,4/;colours=red'), 400, 'validation_failed'), ['path/ids']);
    assert.deepEqual(problem(await call('/strict/styles/1,2/;colours=red'), 400, 'validation_failed'), ['path/ids']);
    assert.deepEqual(problem(await call('/strict/styles/.1/;colours=red;colours=green'), 400, 'validation_failed'), ['path/colours/1']);
    const where = (value: string) => `/strict/styles/.1/;colours=red?where=${encodeURIComponent(value)}`;
    assert.equal((await call(where('{"lat":45.5}'))).status, 200);
    assert.deepEqual(problem(await call(where('{"lat":100}')), 400, 'validation_failed'), ['query/where/lat']);
    assert.deepEqual(problem(await call(where('{"lat":1,"admin":true}')), 400, 'validation_failed'), ['query/where/admin']);
    assert.deepEqual(problem(await call(where('{"lat":1,"__proto__":{}}')), 400, 'validation_failed'), ['query/where']);
    assert.deepEqual(problem(await call(where('not json')), 400, 'validation_failed'), ['query/where']);
  });

  test('an undeclared query parameter is refused', async () => {
    assert.deepEqual(problem(await call('/strict/search?admin=1'), 400, 'validation_failed'), ['query/admin']);
  });
});

describe('additional_properties is configurable per API', () => {
  const note = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('strict (default): undeclared body properties and query parameters are refused', async () => {
    await unreached(async () => {
      assert.deepEqual(problem(await call('/strict/notes', note({ text: 'hi', pinned: true })), 400, 'validation_failed'), ['body/pinned']);
      problem(await call('/strict/search?admin=1'), 400, 'validation_failed');
    });
  });

  test('allow: the same requests pass, declared properties are still typed', async () => {
    assert.equal((await call('/relaxed/notes', note({ text: 'hi', pinned: true }))).status, 200);
    assert.equal((await call('/relaxed/search?admin=1')).status, 200);
    assert.equal((await call('/relaxed/forms', form('title=lamp&extra=1'))).status, 200);
    assert.deepEqual(problem(await call('/relaxed/notes', note({ text: 5 })), 400, 'validation_failed'), ['body/text']);
    problem(await call('/relaxed/notes', note({ text: 'hi', ['__proto__']: { admin: true } })), 400, 'validation_failed');
  });
});

describe('the other validation settings are per API too', () => {
  const note = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  test('defaults: readOnly refused; generous string, array and depth caps', async () => {
    assert.deepEqual(problem(await call('/strict/notes', note({ id: 'n-1', text: 'hi' })), 400, 'validation_failed'), ['body/id']);
    assert.equal((await call('/strict/notes', note({ text: 'x'.repeat(500), tags: ['a', 'b', 'c'], meta: { a: { b: { c: {} } } } }))).status, 200);
  });

  test('readonly_in_requests: allow accepts readOnly; max_string_length, max_array_items and max_depth apply', async () => {
    assert.equal((await call('/relaxed/notes', note({ id: 'n-1', text: 'hi', tags: ['a', 'b'], meta: { a: {} } }))).status, 200);
    assert.deepEqual(problem(await call('/relaxed/notes', note({ text: 'x'.repeat(9) })), 400, 'validation_failed'), ['body/text']);
    assert.deepEqual(problem(await call('/relaxed/notes', note({ tags: ['a', 'b', 'c'] })), 400, 'validation_failed'), ['body/tags']);
    // Where the spec sets its own bound it wins over the default cap (tags items: maxLength 100).
    assert.equal((await call('/relaxed/notes', note({ tags: ['x'.repeat(50)] }))).status, 200);
    assert.deepEqual(problem(await call('/relaxed/notes', note({ meta: { a: { b: {} } } })), 400, 'validation_failed'), ['body']);
  });
});

describe('response contract', () => {
  test('a body over response.max_body_bytes is blocked with a generic 502 in enforce mode', async () => {
    const res = await call('/strict/big');
    problem(res, 502, 'upstream_invalid_response');
    assert.doesNotMatch(res.text, /item-|internal/);
  });

  test('monitor mode passes the over-cap body unchanged and logs it', async () => {
    const res = await call('/monitor/big');
    assert.equal(res.status, 200);
    assert.equal((res.json()['items'] as string[]).length, 40);
    assert.ok(gw.logs.some((l) => l['level'] === 'warn' && /monitor mode/.test(String(l['msg'])) && /over 200 bytes/.test(String(l['reason']))));
  });

  test('an undeclared status or media type becomes a 502 in enforce mode; a declared one is minimised', async () => {
    const ok = await call('/strict/status');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { ok: true });
    problem(await call('/strict/status?kind=created'), 502, 'upstream_invalid_response');
    const html = await call('/strict/status?kind=html');
    problem(html, 502, 'upstream_invalid_response');
    assert.doesNotMatch(html.text, /stack trace/);
  });

  test('minimisation: undeclared and writeOnly properties removed, sensitive_fields and x-rampart-sensitive applied', async () => {
    const expected = { id: 1, email: '****', cards: [{ number: '****', label: 'main' }] };
    const ok = await call('/strict/profile');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), expected);
    assert.doesNotMatch(ok.text, /hunter2|078-05|4111|cvv|internal/);
    const accepted = await call('/strict/profile?variant=accepted');
    assert.equal(accepted.status, 202, 'a 2XX range covers 202');
    assert.deepEqual(accepted.json(), expected);
    const error = await call('/strict/profile?variant=error');
    assert.equal(error.status, 500, 'default covers 500');
    assert.deepEqual(error.json(), { title: 'boom' });
  });

  test('compressed upstream bodies (gzip, br) are decoded, checked and minimised; unknown encodings and bombs are 502', async () => {
    for (const variant of ['gzip', 'br']) {
      const res = await fetch(`${gw.url}/strict/profile?variant=${variant}`, { headers: { 'accept-encoding': 'identity' } });
      assert.equal(res.status, 200, variant);
      assert.equal(res.headers.get('content-encoding'), null, variant);
      assert.deepEqual(await res.json(), { id: 1, email: '****', cards: [{ number: '****', label: 'main' }] }, variant);
    }
    problem(await call('/strict/profile?variant=zstd'), 502, 'upstream_invalid_response');
    problem(await call('/relaxed/profile?variant=bomb'), 502, 'upstream_invalid_response');
  });

  test('a body that breaks its schema is a 502 in enforce mode and passes, logged, in monitor mode', async () => {
    const blocked = await call('/strict/profile?variant=wrongtype');
    problem(blocked, 502, 'upstream_invalid_response');
    assert.doesNotMatch(blocked.text, /hunter2/);
    const passed = await call('/monitor/profile?variant=wrongtype');
    assert.equal(passed.status, 200);
    assert.equal(passed.json()['id'], 'one');
    assert.ok(gw.logs.some((l) => l['level'] === 'warn' && /^body does not match the schema \(type at \/id\)/.test(String(l['reason']))));
  });

  test('monitor mode passes undeclared statuses and media types and logs them', async () => {
    const created = await call('/monitor/status?kind=created');
    assert.equal(created.status, 201);
    const html = await call('/monitor/status?kind=html');
    assert.equal(html.status, 200);
    assert.match(html.text, /stack trace/);
    const reasons = gw.logs.filter((l) => l['level'] === 'warn').map((l) => String(l['reason']));
    assert.ok(reasons.includes('undeclared status 201'), reasons.join('; '));
    assert.ok(reasons.some((r) => r.startsWith('undeclared media type text/html')), reasons.join('; '));
  });
});

describe('list ownership in deny mode (every)', () => {
  test('a list of owned items passes; one foreign item denies the whole list (404, or 403 when configured)', async () => {
    const alice = await issuer.sign({ sub: 'alice' });
    const auth = (extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${alice}`, ...extra } });
    const own = await call('/strict/mine', auth());
    assert.equal(own.status, 200, own.text);
    assert.equal((JSON.parse(own.text) as unknown[]).length, 2);
    const mixed = await call('/strict/mine', auth({ 'x-mixed': '1' }));
    problem(mixed, 404, 'not_found');
    assert.doesNotMatch(mixed.text, /bob/);
    problem(await call('/forbid/mine', auth({ 'x-mixed': '1' })), 403, 'forbidden');
    const bob = await issuer.sign({ sub: 'bob' });
    problem(await call('/strict/mine', { headers: { authorization: `Bearer ${bob}` } }), 404, 'not_found');
  });
});

describe('CEL rules over now', () => {
  test('a rule true now allows, a rule false now denies (403), timezone functions work', async () => {
    assert.equal((await call('/strict/open-window')).status, 200);
    problem(await unreached(() => call('/strict/closed-window')), 403, 'forbidden');
    assert.equal((await call('/strict/office')).status, 200);
  });
});

describe('CEL rule compile errors stop start-up naming the rule', () => {
  const start = (api: Record<string, unknown>, spec = SPEC) =>
    startGateway(
      { upstreams: { main: { url: 'http://127.0.0.1:9' } }, apis: [{ name: 'c', spec: './contract.yaml', upstream: 'main', auth: { jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'x', jwks_url: 'https://idp.example/jwks' }] } }, ...api }] },
      { files: { 'contract.yaml': spec } },
    );

  test('a syntax error in apis[].rules names its config path', async () => {
    await assert.rejects(start({ rules: { openWindow: 'now > ' } }), /apis\[0\]\.rules\.openWindow: invalid CEL rule/);
  });

  test('an unknown variable and a non-boolean rule are refused at start', async () => {
    await assert.rejects(start({ rules: { openWindow: 'user.admin == true' } }), /apis\[0\]\.rules\.openWindow: invalid CEL rule/);
    await assert.rejects(start({ rules: { openWindow: '"yes"' } }), /apis\[0\]\.rules\.openWindow: CEL rule must return a bool/);
  });

  test('owner rules name their long-form key; response rules cannot use item', async () => {
    await assert.rejects(start({ owner_rules: { listMine: { filter: 'item.ownerId ==' } } }), /apis\[0\]\.owner_rules\.listMine\.filter: invalid CEL rule/);
    await assert.rejects(start({ owner_rules: { listMine: { response: 'item.ownerId == identity.subject' } } }), /apis\[0\]\.owner_rules\.listMine\.response: invalid CEL rule/);
  });

  test('x-rampart-rule in the spec names the operation', async () => {
    const spec = SPEC.replace('      operationId: office\n', "      operationId: office\n      x-rampart-rule: 'now >'\n");
    await assert.rejects(start({}, spec), /office x-rampart-rule: invalid CEL rule/);
  });
});
