import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from '../../../test/helpers/gateway.ts';
import { itemsConfig, send, SPEC_FILES } from '../../../test/helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from '../../../test/helpers/upstream.ts';
import { InFlight } from './index.ts';

it('InFlight takes at most max slots per key and frees them', () => {
  const table = new InFlight();
  assert.equal(table.acquire('a', 2), true);
  assert.equal(table.acquire('a', 2), true);
  assert.equal(table.acquire('a', 2), false);
  assert.equal(table.acquire('b', 2), true);
  table.release('a');
  assert.equal(table.acquire('a', 2), true);
  table.release('a');
  table.release('a');
  table.release('b');
  assert.deepEqual(table.snapshot(), {});
});

describe('concurrency limit through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const held: ServerResponse[] = [];
  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (_req, res) => held.push(res);
    gw = await startGateway(itemsConfig(upstream.url, { api: { response: { mode: 'off' }, concurrency: { max_in_flight: 2, key: 'ip' } } }), { files: SPEC_FILES });
  });
  after(async () => {
    for (const res of held) res.end();
    await gw?.close();
    await upstream?.close();
  });

  it('refuses past max_in_flight with 429 and admits again once a response closes', async () => {
    const first = send(gw.url, '/items');
    const second = send(gw.url, '/items/1');
    for (let i = 0; i < 100 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(held.length, 2);
    const third = await send(gw.url, '/items');
    assert.equal(third.status, 429);
    assert.equal(third.json()['type'], 'https://rampart.dev/problems/too_many_concurrent');
    assert.equal(upstream.seen.length, 2, 'the refused request did not reach the upstream');
    held.shift()!.end('{}');
    assert.equal((await first).status, 200);
    upstream.handler = undefined;
    assert.equal((await send(gw.url, '/items')).status, 200);
    held.shift()!.end('{}');
    assert.equal((await second).status, 200);
  });
});
