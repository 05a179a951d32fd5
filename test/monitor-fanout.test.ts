/**
 * Scale-out: two gateway instances share Redis pub/sub for blocks. A block placed on one is enforced by the other
 * within 1 s, and lifting it on one reaches the other as well.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startGateway } from './helpers/gateway.ts';
import { startUpstream } from './helpers/upstream.ts';

test('a block placed on instance A is enforced by instance B within 1 s, and lifted likewise', { timeout: 30_000 }, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const channel = `rampart-test:${randomBytes(6).toString('hex')}`;
  const config = {
    trusted_proxies: ['127.0.0.1'],
    upstreams: { up: { url: upstream.url } },
    apis: [{ name: 'shop', passthrough: true, upstream: 'up' }],
    monitor: { fanout: { redis_url: 'redis://127.0.0.1:6379', channel } },
  };
  const a = await startGateway(config);
  t.after(() => a.close());
  const b = await startGateway(config);
  t.after(() => b.close());
  const ip = '198.51.100.77';
  const statusOn = async (url: string) => (await fetch(url + '/x', { headers: { 'x-forwarded-for': ip } })).status;
  assert.equal(await statusOn(b.url), 200);

  await a.gateway.monitor.block({ ip, until: Date.now() + 60_000, reason: 'test', incidentId: 'inc_test' });
  const waitFor = async (status: number) => {
    const started = Date.now();
    while (Date.now() - started < 1000) {
      if ((await statusOn(b.url)) === status) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`instance B did not answer ${status} within 1 s`);
  };
  await waitFor(403);
  assert.equal(await statusOn(a.url), 403);

  const lifted = await fetch(`${a.adminUrl}/admin/blocks/${ip}`, { method: 'DELETE', body: JSON.stringify({ actor: 'ops' }) });
  assert.equal(lifted.status, 200);
  await waitFor(200);
});
