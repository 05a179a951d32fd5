/**
 * Validation conformance: property-based requests generated from demo/openapi.yaml (fast-check), valid and invalid
 * by construction, sent through the real gateway. The oracle is Ajv run directly on the spec's own schema; Rampart's
 * verdict (400 `validation_failed` or not) must match it for every case.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadSpec } from '../src/openapi/load.ts';
import { createOpenApiAjv } from '../src/openapi/ajv.ts';
import { startDemoStack, type DemoStack } from './helpers/demo-stack.ts';

let stack: DemoStack;
let token: string;
let oracle: (value: unknown) => boolean;
let limitOracle: (value: unknown) => boolean;

before(async () => {
  // Hundreds of deliberate 400s would trip the monitor's automatic IP block: it is not what this test measures.
  stack = await startDemoStack(undefined, { monitor: { enabled: false } });
  token = await stack.token('alice');
  const spec = await loadSpec(new URL('../demo/openapi.yaml', import.meta.url).pathname);
  const ajv = createOpenApiAjv();
  const search = spec.operations.find((o) => o.operationId === 'searchOrders')!;
  oracle = ajv.compile(search.requestBody!.content!['application/json']!.schema as object);
  const list = spec.operations.find((o) => o.operationId === 'listOrders')!;
  limitOracle = ajv.compile(list.parameters.find((p) => p.name === 'limit')!.schema as object);
});
after(() => stack?.close());

const validField = fc.oneof(
  fc.record({ id: fc.stringMatching(/^ord-[0-9]{1,11}$/) }),
  fc.record({ accountId: fc.stringMatching(/^acc-[a-z0-9-]{1,20}$/) }),
  fc.record({ status: fc.constantFrom('pending', 'paid', 'shipped', 'cancelled') }),
  fc.record({ item: fc.string({ minLength: 1, maxLength: 100 }) }),
);
const validSearch = fc.tuple(validField, validField).map(([a, b]) => ({ ...a, ...b }));
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({ $ne: null }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.string({ minLength: 101, maxLength: 300 }),
  fc.constantFrom('ORD-1', 'ord-', 'acc_x', 'refunded', ''),
);
const invalidSearch = fc.oneof(
  fc.tuple(validSearch, fc.constantFrom('id', 'accountId', 'status', 'item'), hostile).map(([base, key, value]) => ({ ...base, [key]: value })),
  fc.tuple(validSearch, fc.stringMatching(/^[a-z]{1,12}$/), fc.string({ maxLength: 10 }))
    .filter(([, key]) => !['id', 'accountId', 'status', 'item'].includes(key))
    .map(([base, key, value]) => ({ ...base, [key]: value })),
  fc.constant({}),
);

async function verdict(path: string, body?: unknown): Promise<'accepted' | 'rejected'> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(stack.gateway.url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status === 400) {
    assert.match(text, /validation_failed/);
    return 'rejected';
  }
  assert.equal(res.status, 200, text);
  return 'accepted';
}

test('searchOrders bodies: Rampart accepts exactly what the spec schema accepts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(validSearch, invalidSearch), async (body) => {
      const expected = oracle(body) ? 'accepted' : 'rejected';
      assert.equal(await verdict('/orders/search', body), expected, JSON.stringify(body));
    }),
    { numRuns: 80, seed: 4 },
  );
});

test('listOrders limit: integers 1..100 accepted, everything else refused', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: -50, max: 200 }).map(String), fc.constantFrom('1.5', 'abc', '', '0x10', '1e2', ' 5')), async (limit) => {
      const asNumber = /^-?[0-9]+$/.test(limit) ? Number(limit) : limit;
      const expected = limitOracle(asNumber) ? 'accepted' : 'rejected';
      assert.equal(await verdict(`/orders?limit=${encodeURIComponent(limit)}`), expected, limit);
    }),
    { numRuns: 60, seed: 4 },
  );
});
