import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { configSchema } from '../../config/schema.ts';
import { checkConfigSemantics } from '../../config/semantics.ts';
import type { RampartConfig } from '../../config/types.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import { createScanClient, OtherHostError } from '../client.ts';
import { idKeyOf } from './bola.ts';
import { flowLimitConfig, flowOf, MAX_FLOW_REPEATS, repeatsOf } from './flows.ts';
import { otherServers, plainHttpCandidates } from './servers.ts';

const op = (raw: Record<string, unknown>) => ({ operationId: 'checkout', raw }) as unknown as SpecOperation;

test('x-rampart-flow: true, a name or { name, max_per_minute }; anything else is no flow; repetitions bounded', () => {
  assert.deepEqual(flowOf(op({ 'x-rampart-flow': true })), { name: 'checkout', maxPerMinute: 10, declared: false });
  assert.deepEqual(flowOf(op({ 'x-rampart-flow': 'buy' })), { name: 'buy', maxPerMinute: 10, declared: false });
  assert.deepEqual(flowOf(op({ 'x-rampart-flow': { name: 'buy', max_per_minute: 5 } })), { name: 'buy', maxPerMinute: 5, declared: true });
  assert.deepEqual(flowOf(op({ 'x-rampart-flow': { max_per_minute: -1 } })), { name: 'checkout', maxPerMinute: 10, declared: false });
  for (const raw of [undefined, false, [], 3, '']) assert.equal(flowOf(op({ 'x-rampart-flow': raw })), undefined);
  assert.equal(repeatsOf({ name: 'x', maxPerMinute: 5, declared: true }), 10);
  assert.equal(repeatsOf({ name: 'x', maxPerMinute: 1000, declared: true }), MAX_FLOW_REPEATS);
});

test('the rate limit a flow finding names is a valid API entry of rampart.yaml', () => {
  const validate = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }).compile(configSchema);
  for (const security of [[{ bearer: [] }], []]) {
    const checkout = { operationId: 'checkout', raw: {}, security } as unknown as SpecOperation;
    const limits = flowLimitConfig(checkout, { name: 'buy now!', maxPerMinute: 5, declared: true });
    const config = { listen: { http: { port: 8080, host: '127.0.0.1', insecure: true } }, upstreams: { shop: { url: 'http://127.0.0.1:3000' } }, apis: [{ name: 'shop', spec: './openapi.yaml', upstream: 'shop', ...structuredClone(limits) }] };
    assert.ok(validate(config), JSON.stringify(validate.errors?.slice(0, 3)));
    assert.deepEqual(checkConfigSemantics(config as unknown as RampartConfig), []);
    assert.deepEqual(limits, { rate_limits: [{ name: 'buy-now--flow', key: security.length ? 'consumer' : 'ip', algorithm: 'sliding_window', limit: '5/min', operations: ['checkout'] }] });
  }
});

test('id query parameters map to the keys objects are filed under', () => {
  assert.equal(idKeyOf('accountId'), 'accountId');
  assert.equal(idKeyOf('order_id'), 'orderId');
  assert.equal(idKeyOf('line_item_id'), 'lineItemId');
});

test('the spec\'s other servers: the target itself and duplicates left out, relative ones resolved against the target', () => {
  const document = { servers: [{ url: '/v2' }, { url: 'https://api.example.com/v2' }, { url: '/v1' }, { url: 'http://api.example.com:{port}/v2', variables: { port: { default: '8080' } } }, { url: 'https://api.example.com/v2/' }, { url: 'ftp://api.example.com/' }] };
  const target = new URL('https://api.example.com');
  assert.deepEqual(otherServers(document, target).map((s) => s.url.href), ['https://api.example.com/v1', 'http://api.example.com:8080/v2']);
  assert.deepEqual(plainHttpCandidates(document, target).map((u) => u.href), ['http://api.example.com/v2', 'http://api.example.com:8080/v2']);
  assert.deepEqual(plainHttpCandidates(document, new URL('https://api.example.com:8443')).map((u) => u.href), ['http://api.example.com:8080/v2'], 'port 80 only for a target on 443');
  assert.deepEqual(plainHttpCandidates(document, new URL('http://api.example.com')), [], 'plain HTTP is for https:// targets');
});

test('the client sends to other origins of the target\'s host only; a loopback name is not a remote target\'s host', async () => {
  const local = createScanClient({ target: new URL('http://127.0.0.1:9/'), rps: 1000 });
  assert.equal(await local.sameHost('localhost'), true);
  assert.equal(await local.sameHost('[::1]'), true);
  assert.equal(await local.sameHost('203.0.113.7'), false);
  await assert.rejects(local.sendTo(new URL('http://203.0.113.7:80/'), { method: 'GET', path: '/' }), OtherHostError);
  assert.equal(local.sent, 0, 'nothing was sent, no budget used');
  await local.close();
  const remote = createScanClient({ target: new URL('https://203.0.113.7/'), rps: 1000 });
  assert.equal(await remote.sameHost('127.0.0.1'), false);
  assert.equal(await remote.sameHost('203.0.113.7'), true);
  assert.equal(await remote.sameHost('198.51.100.1'), false);
  await remote.close();
});
