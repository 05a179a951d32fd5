/**
 * Spec loading through a real gateway: an OpenAPI 3.0 spec split over several YAML files (`nullable`, boolean
 * `exclusiveMinimum`), a 3.1 spec written as JSON, and broken specs whose start-up error names the file and the
 * JSON pointer of the problem.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC_30 = `openapi: 3.0.3
info: { title: things, version: '1' }
servers: [{ url: 'https://{host}/{version}', variables: { host: { default: api.example.com }, version: { default: v1, enum: [v1] } } }]
paths:
  /things/{thingId}:
    parameters:
      - $ref: './parameters.yaml#/ThingId'
    put:
      operationId: putThing
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: './schemas.yaml#/Thing' }
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { $ref: './schemas.yaml#/Thing' }
`;

const SCHEMAS_30 = `Thing:
  type: object
  required: [name]
  properties:
    name: { type: string, maxLength: 20 }
    nickname: { type: string, nullable: true }
    price: { type: number, minimum: 0, exclusiveMinimum: true, maximum: 100, exclusiveMaximum: false }
    colour: { type: string, enum: [red, blue], nullable: true }
`;

const PARAMETERS_30 = `ThingId:
  name: thingId
  in: path
  required: true
  schema: { type: string, pattern: '^t-[0-9]+$' }
`;

const SPEC_JSON = JSON.stringify({
  openapi: '3.1.0',
  info: { title: 'json', version: '1' },
  paths: {
    '/widgets': {
      get: {
        operationId: 'listWidgets',
        parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10 } }],
        responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  },
});

describe('OpenAPI 3.0 split over several YAML files', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (_req, res, body) => {
      const sent = JSON.parse(body) as Record<string, unknown>;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...sent, internalNote: 'not in the contract' }));
    };
    gw = await startGateway(
      { upstreams: { main: { url: upstream.url } }, apis: [{ name: 'things', spec: './openapi.yaml', upstream: 'main' }], monitor: { enabled: false } },
      { files: { 'openapi.yaml': SPEC_30, 'schemas.yaml': SCHEMAS_30, 'parameters.yaml': PARAMETERS_30 } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const put = (path: string, body: unknown) =>
    fetch(gw.url + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });

  test('a valid body passes (servers base path from variable defaults, path parameter from another file) and the response is minimised', async () => {
    const res = await put('/v1/things/t-1', { name: 'lamp', price: 5 });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { name: 'lamp', price: 5 });
    assert.equal(upstream.seen.at(-1)?.url, '/v1/things/t-1');
  });

  test('nullable: true accepts null (also in an enum); other properties still refuse null', async () => {
    const ok = await put('/v1/things/t-1', { name: 'lamp', nickname: null, colour: null });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: 'lamp', nickname: null, colour: null });
    const bad = await put('/v1/things/t-1', { name: null });
    assert.equal(bad.status, 400);
    const problem = (await bad.json()) as { errors: { pointer: string }[] };
    assert.equal(problem.errors[0]?.pointer, 'body/name');
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', colour: 'green' })).status, 400);
  });

  test('3.0 boolean exclusiveMinimum is honoured (0 refused, 0.5 accepted), exclusiveMaximum: false keeps 100', async () => {
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', price: 0 })).status, 400);
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', price: 0.5 })).status, 200);
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', price: 100 })).status, 200);
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', price: 100.5 })).status, 400);
  });

  test('schemas from the other files are strict: undeclared property and bad path parameter refused', async () => {
    const before = upstream.seen.length;
    assert.equal((await put('/v1/things/t-1', { name: 'lamp', isAdmin: true })).status, 400);
    assert.equal((await put('/v1/things/x-1', { name: 'lamp' })).status, 400);
    assert.equal((await put('/v1/things/t-1', { name: 'x'.repeat(21) })).status, 400);
    assert.equal(upstream.seen.length, before);
  });
});

describe('a spec written as JSON', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      { upstreams: { main: { url: upstream.url } }, apis: [{ name: 'json', spec: './openapi.json', upstream: 'main' }], monitor: { enabled: false } },
      { files: { 'openapi.json': SPEC_JSON } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('routes and validators come from the JSON document', async () => {
    assert.equal((await fetch(`${gw.url}/widgets?limit=3`)).status, 200);
    assert.equal((await fetch(`${gw.url}/widgets?limit=11`)).status, 400);
    assert.equal((await fetch(`${gw.url}/widgets?other=1`)).status, 400);
    assert.equal((await fetch(`${gw.url}/gadgets`)).status, 404);
    assert.equal((await fetch(`${gw.url}/widgets`, { method: 'DELETE' })).status, 405);
  });
});

describe('versioning: two spec versions under different base paths, the old one deprecated with a sunset', () => {
  const version = (deprecated: string) => `openapi: 3.1.0
info: { title: orders, version: '1' }
paths:
  /orders:
    get:
      operationId: listOrders
${deprecated}      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      {
        upstreams: { main: { url: upstream.url } },
        apis: [
          { name: 'v1', spec: './v1.yaml', upstream: 'main', base_path: '/v1' },
          { name: 'v2', spec: './v2.yaml', upstream: 'main', base_path: '/v2' },
        ],
      },
      { files: { 'v1.yaml': version('      deprecated: true\n      x-rampart-sunset: 2027-01-31\n'), 'v2.yaml': version('') } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('the deprecated version answers with Deprecation and Sunset (HTTP-date); the new one without', async () => {
    const old = await fetch(`${gw.url}/v1/orders`);
    assert.equal(old.status, 200);
    assert.equal(old.headers.get('deprecation'), 'true');
    assert.equal(old.headers.get('sunset'), 'Sun, 31 Jan 2027 00:00:00 GMT');
    const current = await fetch(`${gw.url}/v2/orders`);
    assert.equal(current.status, 200);
    assert.equal(current.headers.get('deprecation'), null);
    assert.equal(current.headers.get('sunset'), null);
  });

  test('an x-rampart-sunset that is not a date stops start-up naming the file and pointer', async () => {
    const files = { 'v1.yaml': version("      x-rampart-sunset: 'next spring'\n") };
    await assert.rejects(startGateway({ upstreams: { main: { url: upstream.url } }, apis: [{ name: 'v1', spec: './v1.yaml', upstream: 'main' }] }, { files }), (error: Error) => {
      assert.equal(error.name, 'SpecError');
      assert.match(error.message, /v1\.yaml: #\/paths\/~1orders\/get\/x-rampart-sunset must be a date/);
      return true;
    });
  });
});

describe('spec errors stop start-up naming the file and the JSON pointer', () => {
  const start = (files: Record<string, string>) =>
    startGateway({ upstreams: { main: { url: 'http://127.0.0.1:9' } }, apis: [{ name: 'things', spec: './openapi.yaml', upstream: 'main' }] }, { files });

  test('a $ref to a missing pointer in another file names that file and where the $ref is', async () => {
    const schemas = `${SCHEMAS_30}    maker: { $ref: '#/Maker' }\n`;
    await assert.rejects(start({ 'openapi.yaml': SPEC_30, 'schemas.yaml': schemas, 'parameters.yaml': PARAMETERS_30 }), (error: Error) => {
      assert.equal(error.name, 'SpecError');
      assert.match(error.message, /openapi\.yaml: /);
      assert.match(error.message, /schemas\.yaml#\/Thing\/properties\/maker/);
      assert.match(error.message, /#\/Maker/);
      return true;
    });
  });

  test('a $ref to a file that does not exist names the missing file', async () => {
    await assert.rejects(start({ 'openapi.yaml': SPEC_30, 'schemas.yaml': SCHEMAS_30 }), (error: Error) => {
      assert.equal(error.name, 'SpecError');
      assert.match(error.message, /parameters\.yaml/);
      return true;
    });
  });

  test('an invalid document names the file and the JSON pointer of the bad node', async () => {
    const broken = SPEC_30.replace("      - $ref: './parameters.yaml#/ThingId'", '      - { name: thingId, in: paht, schema: { type: string } }');
    await assert.rejects(start({ 'openapi.yaml': broken, 'schemas.yaml': SCHEMAS_30 }), (error: Error) => {
      assert.equal(error.name, 'SpecError');
      assert.match(error.message, /openapi\.yaml: /);
      assert.match(error.message, /#\/paths\/~1things~1\{thingId\}\/parameters\/0/);
      return true;
    });
  });
});
