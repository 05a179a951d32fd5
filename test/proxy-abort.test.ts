import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startGateway } from './helpers/gateway.ts';
import { itemsConfig, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { startUpstream } from './helpers/upstream.ts';

// A client that goes away before the upstream has answered cancels the upstream request (the proxy's abort signal),
// so a slow upstream is not kept busy for nobody; the next request through the same gateway is served normally.
test('client disconnect before the upstream answers aborts the upstream request; the gateway keeps serving', { timeout: 30_000 }, async () => {
  const upstream = await startUpstream();
  const gw = await startGateway(itemsConfig(upstream.url), { files: SPEC_FILES });
  try {
    let upstreamClosedEarly: () => void = () => {};
    const closedEarly = new Promise<void>((resolve) => (upstreamClosedEarly = resolve));
    upstream.handler = (_req, res) => {
      // Never answers; resolves when the gateway cancels the exchange (the upstream response closes unfinished).
      res.on('close', () => {
        if (!res.writableFinished) upstreamClosedEarly();
      });
    };
    const port = Number(new URL(gw.url).port);
    const client = request({ host: '127.0.0.1', port, path: '/items', method: 'GET', agent: false });
    client.on('error', () => undefined);
    client.end();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(upstream.seen.length, 1, 'the request reached the upstream');
    client.destroy();
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
    assert.notEqual(await Promise.race([closedEarly.then(() => 'aborted' as const), timeout]), 'timeout', 'the upstream request was aborted');

    upstream.handler = undefined;
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  } finally {
    await gw.close();
    await upstream.close();
  }
});
