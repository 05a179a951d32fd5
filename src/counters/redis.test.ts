import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { it } from 'node:test';
import { counterContract, T0 } from './contract.case.ts';
import { RedisCounter } from './redis.ts';
import { CounterUnavailableError } from './types.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A backend on the real Redis under a random prefix; cleanup deletes every key it wrote. */
async function isolated(clock: () => number, extra: { timeoutMs?: number } = {}): Promise<RedisCounter> {
  const backend = new RedisCounter({ url: REDIS_URL, prefix: `rampart_test_${randomBytes(6).toString('hex')}:`, clock, ...extra });
  assert.ok(await backend.waitReady(5000), 'redis reachable at ' + REDIS_URL);
  return backend;
}

async function dispose(backend: RedisCounter): Promise<void> {
  await backend.reset('', 100_000);
  await backend.close();
}

counterContract('redis', async (clock) => {
  const backend = await isolated(clock);
  return { backend, cleanup: () => dispose(backend) };
});

it('redis: scripts are reloaded after SCRIPT FLUSH (EVALSHA falls back on NOSCRIPT)', async () => {
  const backend = await isolated(() => T0);
  try {
    const spec = { algorithm: 'fixed_window', limit: 2, windowMs: 1000 } as const;
    assert.equal((await backend.decide('k', spec)).allowed, true);
    await backend.client.script('FLUSH');
    assert.equal((await backend.decide('k', spec)).allowed, true);
    assert.equal((await backend.decide('k', spec)).allowed, false);
  } finally {
    await dispose(backend);
  }
});

it('redis: an unreachable or silent server fails fast with CounterUnavailableError, then the breaker opens', async () => {
  // A TCP server that accepts and never answers: the worst case for a client without timeouts.
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  const backend = new RedisCounter({ url: `redis://127.0.0.1:${port}`, timeoutMs: 50, breakerFailures: 2, breakerCooldownMs: 60_000 });
  try {
    const spec = { algorithm: 'token_bucket', intervalMs: 10, burst: 1 } as const;
    for (let i = 0; i < 4; i++) {
      const started = process.hrtime.bigint();
      await assert.rejects(backend.decide('k', spec), CounterUnavailableError);
      // Generous bound (CI noise): the point is "bounded", not an exact latency.
      assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000);
    }
    assert.equal(backend.breakerState, 'open', 'two failures opened the breaker');
    await assert.rejects(backend.decide('k', spec), /circuit open/, 'while open, calls fail without touching Redis');
  } finally {
    backend.client.disconnect();
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
