import assert from 'node:assert/strict';
import { it } from 'node:test';
import { counterContract, T0 } from './contract.ts';
import { MemoryCounter } from './memory.ts';

counterContract('memory', (clock) => {
  const backend = new MemoryCounter({ clock });
  return Promise.resolve({ backend, cleanup: () => backend.close() });
});

it('memory counters stay bounded: the least recently used key goes first', async () => {
  let now = T0;
  const counter = new MemoryCounter({ maxKeys: 100, clock: () => now });
  const spec = { algorithm: 'fixed_window', limit: 1, windowMs: 60_000 } as const;
  assert.equal((await counter.decide('hot', spec)).allowed, true);
  for (let i = 0; i < 500; i++) {
    await counter.decide(`k${i}`, spec);
    if (i % 50 === 0) await counter.decide('hot', spec); // keep it recent
  }
  assert.ok(counter.size <= 100);
  assert.equal((await counter.decide('hot', spec)).allowed, false, 'a recently used key was kept');
  now += 120_000;
  for (let i = 0; i < 10; i++) await counter.decide(`fresh${i}`, spec);
  assert.ok(counter.size <= 100);
});
