import assert from 'node:assert/strict';
import { it } from 'node:test';
import { counterContract, T0 } from './contract.case.ts';
import { MemoryCounter } from './memory.ts';
import { CounterUnavailableError, type LimitSpec } from './types.ts';

counterContract('memory', (clock) => {
  const backend = new MemoryCounter({ clock });
  return Promise.resolve({ backend, cleanup: () => backend.close() });
});

it('memory counters stay bounded: the least recently used key goes first', async () => {
  let now = T0;
  const counter = new MemoryCounter({ maxKeys: 100, clock: () => now });
  const spec = { algorithm: 'fixed_window', limit: 20, windowMs: 60_000 } as const;
  assert.equal((await counter.decide('hot', spec)).allowed, true);
  for (let i = 0; i < 500; i++) {
    await counter.decide(`k${i}`, spec);
    if (i % 50 === 0) await counter.decide('hot', spec); // keep it recent
  }
  assert.ok(counter.size <= 100, `size ${counter.size}`);
  assert.equal(counter.heldSize, 0, 'no key was at its limit');
  for (let i = 0; i < 9; i++) await counter.decide('hot', spec);
  assert.equal((await counter.decide('hot', spec)).allowed, false, 'a recently used key was kept');
  now += 120_000;
  for (let i = 0; i < 10; i++) await counter.decide(`fresh${i}`, spec);
  assert.ok(counter.size <= 100);
});

it('memory counters: a flood of 200 000 distinct keys lifts no lockout, no auth lock and no limit at zero', async () => {
  let now = T0;
  const counter = new MemoryCounter({ clock: () => now });
  const lockout = { keys: ['ip:203.0.113.7', 'acct:h', 'ipacct:203.0.113.7:h'], thresholds: [20, 50, 5], windowMs: 900_000, lockMs: 900_000 };
  for (let i = 0; i < 5; i++) assert.equal((await counter.reserve('bf', lockout)).allowed, true);
  assert.equal((await counter.reserve('bf', lockout)).allowed, false, 'locked before the flood');
  await counter.hit('auth', ['lock:ip:203.0.113.7'], 60_000, [1], 60_000);
  const perIp: LimitSpec = { algorithm: 'fixed_window', limit: 2, windowMs: 60_000 };
  await counter.decide('rl:ip:203.0.113.7', perIp);
  await counter.decide('rl:ip:203.0.113.7', perIp);

  const started = performance.now();
  for (let i = 0; i < 200_000; i++) {
    now += 0.001;
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    counter.decideSync(`rl:ip:${ip}`, { algorithm: 'fixed_window', limit: 100, windowMs: 60_000 });
    await counter.reserve('bf', { keys: [`ip:${ip}`, `acct:u${i}`, `ipacct:${ip}:u${i}`], thresholds: [20, 50, 5], windowMs: 900_000, lockMs: 900_000 });
  }
  const elapsedMs = performance.now() - started;

  assert.ok(counter.size <= 100_000 + counter.heldSize, `bounded: ${counter.size} keys, ${counter.heldSize} held`);
  assert.ok(counter.heldSize < 10, `only denying entries are held, got ${counter.heldSize}`);
  const after = await counter.reserve('bf', lockout);
  assert.equal(after.allowed, false, 'the lockout survived the flood');
  assert.equal(after.states[2]!.count, 5);
  assert.equal((await counter.peek('auth', ['lock:ip:203.0.113.7']))[0]!.count, 1, 'the auth lock survived');
  assert.equal(counter.decideSync('rl:ip:203.0.113.7', perIp).allowed, false, 'the exhausted limit survived');
  assert.equal((await counter.peek('bf', ['ip:10.0.0.1']))[0]!.count, 0, 'ordinary keys were evicted');
  // Generous bound for a shared CI core: the point is linear work, not an exact figure.
  assert.ok(elapsedMs < 10_000, `flood took ${Math.round(elapsedMs)} ms`);
});

it('memory counters: a full held table fails new lockouts closed and never evicts a live one; expired holds make room', async () => {
  let now = T0;
  const counter = new MemoryCounter({ maxKeys: 100, maxHeld: 3, clock: () => now });
  const lock = (k: string) => counter.reserve('g', { keys: [k], thresholds: [1], windowMs: 10_000, lockMs: 10_000 });
  for (const k of ['a', 'b', 'c']) assert.equal((await lock(k)).allowed, true);
  await assert.rejects(lock('d'), CounterUnavailableError, 'no room to hold a fourth lockout: refuse rather than forget one');
  await assert.rejects(counter.hit('g', ['e'], 10_000, [1], 10_000), CounterUnavailableError);
  assert.deepEqual(await counter.peek('g', ['d', 'e']), [{ count: 0, ttlMs: 0 }, { count: 0, ttlMs: 0 }], 'nothing half-written');
  assert.equal((await counter.reserve('g', { keys: ['f'], thresholds: [5], windowMs: 10_000, lockMs: 10_000 })).allowed, true, 'counting below a threshold still works');
  for (let i = 0; i < 1000; i++) counter.decideSync(`flood${i}`, { algorithm: 'fixed_window', limit: 10, windowMs: 60_000 });
  for (const k of ['a', 'b', 'c']) assert.equal((await lock(k)).allowed, false, `lockout ${k} kept through the flood`);
  now += 10_000;
  assert.equal((await lock('d')).allowed, true, 'expired lockouts leave the table');
  assert.ok(counter.heldSize <= 3);
});
