/**
 * The local fallback of fail-open limits, on a frozen clock with a shared backend that can be switched off: it
 * admits this instance's share (limit / instances) counting what the instance already admitted through the shared
 * backend, counts every local decision, and after the shared backend answers again a key decided locally must
 * still pass its local share. Keys that never fell back keep the whole limit on one instance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counters } from './index.ts';
import type { FallbackEvent } from './fallback.ts';
import { MemoryCounter } from './memory.ts';
import { CounterUnavailableError, type CounterBackend, type LimitSpec } from './types.ts';

const T0 = 1_700_000_040_000;

function setup() {
  const clock = { now: T0 };
  const now = () => clock.now;
  const real = new MemoryCounter({ clock: now });
  let down = false;
  // Stands in for Redis: a second memory counter that throws like an unreachable backend when `down`.
  const shared = {
    kind: 'redis',
    decide: (key: string, spec: LimitSpec) => (down ? Promise.reject(new CounterUnavailableError('redis counters unavailable (circuit open)')) : real.decide(key, spec)),
    close: () => real.close(),
  } as unknown as CounterBackend;
  const counters = new Counters(shared, new MemoryCounter({ clock: now }), now, { instances: 2, timeoutMs: 50 });
  const events: FallbackEvent[] = [];
  counters.onFallback = (event) => events.push(event);
  const spec: LimitSpec = { algorithm: 'fixed_window', limit: 10, windowMs: 60_000 };
  const decide = async (key: string, n: number) => {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push((await counters.decide(key, spec, { failure: 'open', limit: 'per-ip' })).allowed);
    return out;
  };
  return { counters, events, decide, setDown: (value: boolean) => (down = value), clock };
}

describe('counters: local fallback on the instance share', () => {
  it('continues from what was admitted, up to limit / instances, and counts each local decision', async () => {
    const { counters, events, decide, setDown } = setup();
    assert.deepEqual(await decide('a', 4), [true, true, true, true], 'shared backend admits');
    assert.equal(counters.health(), 'ok');
    setDown(true);
    assert.deepEqual(await decide('a', 3), [true, false, false], 'share of 5, 4 already used');
    assert.equal(events.length, 3);
    assert.deepEqual(events[0], { backend: 'redis', reason: 'circuit_open', limit: 'per-ip' });
    assert.equal(counters.health(), 'degraded');
    setDown(false);
    assert.deepEqual(await decide('a', 2), [false, false], 'after recovery the key still passes its local share');
    assert.equal(events.length, 3, 'shared decisions are not fallbacks');
  });

  it('a key that never fell back keeps the whole limit on one instance, and a closed limit rethrows', async () => {
    const { counters, decide, setDown } = setup();
    assert.deepEqual(await decide('b', 11), [...Array<boolean>(10).fill(true), false]);
    setDown(true);
    await assert.rejects(counters.decide('c', { algorithm: 'fixed_window', limit: 10, windowMs: 1000 }, { failure: 'closed', limit: 'login' }), CounterUnavailableError);
  });

  it('forgets a fallback two windows later', async () => {
    const { decide, setDown, clock } = setup();
    assert.deepEqual(await decide('d', 5), [true, true, true, true, true]);
    setDown(true);
    assert.deepEqual(await decide('d', 1), [false]);
    setDown(false);
    clock.now += 120_000;
    assert.deepEqual(await decide('d', 6), [true, true, true, true, true, true], 'a fresh window on one instance: more than its share');
  });
});
