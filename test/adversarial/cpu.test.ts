/**
 * CPU exhaustion through request bodies: a 128 KiB object of ~13 000 keys (the old duplicate-key check was
 * quadratic in keys per object and froze the event loop for seconds) and token-dense bodies. With the caps raised
 * they are accepted; with the defaults they are refused by the caps; either way the admin /readyz keeps answering
 * while they are in flight. The only time bound is a generous liveness bound, not a performance assertion.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { problemOf, send, type RawResponse } from '../helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: cpu, version: 1.0.0 }
paths:
  /things:
    post:
      operationId: createThing
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object }
      responses: { '200': { description: ok } }
`;

const KIB = 1024;
/** Seconds readyz may take while heavy bodies are in flight; the old check needed >3 s of CPU per body. */
const LIVENESS_MS = 10_000;
const HEAVY_COPIES = 4;

/** `{"0":0,"1":0,…}` with base-36 keys until `bytes` long: ~16 000 keys in 128 KiB. */
function manyKeys(bytes: number): { text: string; keys: number } {
  const parts: string[] = [];
  let length = 2;
  while (length < bytes) {
    const part = `"${parts.length.toString(36)}":0`;
    parts.push(part);
    length += part.length + 1;
  }
  return { text: `{${parts.join(',')}}`, keys: parts.length };
}

/** `{"v":[0,0,0,…]}` until `bytes` long: one token per two bytes. */
function denseNumbers(bytes: number): string {
  return `{"v":[${Array.from({ length: Math.floor((bytes - 8) / 2) }, () => '0').join(',')}]}`;
}

/** `{"v":[[[[1]]],[[[1]]],…]}`: nested arrays, every item four levels deep. */
function nestedArrays(bytes: number): string {
  return `{"v":[${Array.from({ length: Math.floor((bytes - 8) / 10) }, () => '[[[[1]]]]').join(',')}]}`;
}

function post(gw: TestGateway, body: string): Promise<RawResponse> {
  return send(gw.url, '/things', { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: 60_000 });
}

/** /readyz while `heavy` requests are in flight; resolves its status, or 0 past the liveness bound. */
async function readyzDuring(gw: TestGateway, heavy: Promise<RawResponse>[]): Promise<{ ready: number; responses: RawResponse[] }> {
  const ready = fetch(`${gw.adminUrl}/readyz`, { signal: AbortSignal.timeout(LIVENESS_MS) }).then(
    (r) => r.status,
    () => 0,
  );
  const [status, responses] = await Promise.all([ready, Promise.all(heavy)]);
  return { ready: status, responses };
}

describe('adversarial: CPU cost of request bodies', () => {
  let upstream: TestUpstream;
  let raised: TestGateway;
  let defaults: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    const api = (validation: Record<string, unknown>) => ({
      upstreams: { main: { url: upstream.url } },
      apis: [{ name: 'things', spec: './spec.yaml', upstream: 'main', validation: { additional_properties: 'allow', ...validation }, response: { mode: 'off' } }],
    });
    raised = await startGateway(api({ max_object_keys: 50_000, max_json_tokens: 1_000_000, max_array_items: 1_000_000 }), { files: { 'spec.yaml': SPEC } });
    defaults = await startGateway(api({}), { files: { 'spec.yaml': SPEC } });
  });
  after(async () => {
    await raised?.close();
    await defaults?.close();
    await upstream?.close();
  });

  it('with raised caps, accepts 128 KiB many-keys, token-dense and nested bodies while /readyz stays live', async () => {
    const { text, keys } = manyKeys(128 * KIB);
    assert.ok(keys >= 13_000, `the body has ${keys} keys`);
    const bodies = [text, denseNumbers(128 * KIB), nestedArrays(128 * KIB)];
    const seen = upstream.seen.length;
    const heavy = bodies.flatMap((body) => Array.from({ length: HEAVY_COPIES }, () => post(raised, body)));
    const { ready, responses } = await readyzDuring(raised, heavy);
    assert.equal(ready, 200, `/readyz answered within ${LIVENESS_MS} ms`);
    assert.deepEqual(
      responses.map((r) => r.status),
      heavy.map(() => 200),
    );
    assert.equal(upstream.seen.length, seen + heavy.length);
  });

  it('with raised caps, still finds a duplicate as the last of ~16 000 keys', async () => {
    const { text } = manyKeys(128 * KIB);
    const seen = upstream.seen.length;
    const res = await post(raised, `${text.slice(0, -1)},"0":1}`);
    assert.equal(res.status, 400);
    assert.equal(problemOf(res.json()).code, 'validation_failed');
    assert.equal(upstream.seen.length, seen, 'the upstream was not reached');
  });

  it('with default caps, refuses too many keys (400) and too many tokens (413) before the upstream', async () => {
    const seen = upstream.seen.length;
    const heavy = [...Array.from({ length: HEAVY_COPIES }, () => post(defaults, manyKeys(128 * KIB).text)), ...Array.from({ length: HEAVY_COPIES }, () => post(defaults, denseNumbers(256 * KIB)))];
    const { ready, responses } = await readyzDuring(defaults, heavy);
    assert.equal(ready, 200, `/readyz answered within ${LIVENESS_MS} ms`);
    const keysProblem = responses[0]!.json();
    assert.equal(responses[0]!.status, 400);
    assert.equal(problemOf(keysProblem).code, 'validation_failed');
    assert.deepEqual(keysProblem['errors'], [{ pointer: 'body', message: 'must not have more than 1000 keys in one object' }]);
    const tokensProblem = responses[HEAVY_COPIES]!.json();
    assert.equal(responses[HEAVY_COPIES]!.status, 413);
    assert.equal(problemOf(tokensProblem).code, 'payload_too_large');
    assert.ok(problemOf(tokensProblem).hasRequestId);
    assert.deepEqual(
      responses.map((r) => r.status),
      heavy.map((_, i) => (i < HEAVY_COPIES ? 400 : 413)),
    );
    assert.equal(upstream.seen.length, seen, 'the upstream was not reached');
  });

  it('both gateways still answer the admin /readyz', async () => {
    assert.equal((await fetch(`${raised.adminUrl}/readyz`)).status, 200);
    assert.equal((await fetch(`${defaults.adminUrl}/readyz`)).status, 200);
  });
});
