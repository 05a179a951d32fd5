/**
 * The admission bounds docs/rate-limiting.md states, demonstrated with a frozen clock on the memory backend (the
 * Redis backend makes the same decisions: the counter contract checks they agree). Limit 3000/min throughout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCounter } from './memory.ts';
import type { LimitSpec } from './types.ts';

const W = 60_000;
const L = 3000;
const T0 = 1_700_000_040_000; // a minute boundary

/** Offers one request every `stepMs` on [from, to) and returns the admitted timestamps. */
function offer(spec: LimitSpec, from: number, to: number, stepMs: number, key = 'k'): number[] {
  const clock = { now: from };
  const counter = new MemoryCounter({ clock: () => clock.now });
  const admitted: number[] = [];
  for (let t = from; t < to; t += stepMs) {
    clock.now = t;
    if (counter.decideSync(key, spec).allowed) admitted.push(t);
  }
  return admitted;
}

/** Most admissions in any span of `W` ms (the true sliding count). */
function worstSpan(times: readonly number[]): number {
  let best = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= W) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('documented admission bounds (3000/min, frozen clock)', () => {
  it('sliding_window: traffic starting at 62 % of a window gets limit × 1.62 in its first minute; never 2 × limit', () => {
    const spec: LimitSpec = { algorithm: 'sliding_window', limit: L, windowMs: W };
    const start = T0 + 0.62 * W;
    const first = offer(spec, start, start + W, 1).length;
    assert.ok(first <= L * 1.62 && first >= L * 1.61, `first minute from 62 %: ${first}`);
    // Worst case: the previous window's requests all at its very end, then steady traffic.
    const clock = { now: T0 + W - 1 };
    const counter = new MemoryCounter({ clock: () => clock.now });
    const times: number[] = [];
    for (let i = 0; i < L; i++) if (counter.decideSync('k', spec).allowed) times.push(clock.now);
    for (clock.now = T0 + W; clock.now < T0 + 2 * W; clock.now += 5) if (counter.decideSync('k', spec).allowed) times.push(clock.now);
    const worst = worstSpan(times);
    assert.ok(worst < 2 * L && worst > 1.99 * L, `worst span: ${worst}`);
  });

  it('token_bucket: `3000/min` (burst 3000) admits burst + rate × 1 min = 6000 in its first minute (ends included)', () => {
    const spec: LimitSpec = { algorithm: 'token_bucket', intervalMs: W / L, burst: L };
    // [T0, T0 + 1 min], both ends included.
    const first = offer(spec, T0, T0 + W + 1, 1).length;
    assert.equal(first, L + L);
    const later = offer(spec, T0, T0 + 3 * W, 1).filter((t) => t >= T0 + W && t < T0 + 2 * W).length;
    assert.equal(later, L, 'once the burst is spent: exactly the rate');
  });

  it('fixed_window: up to 2 × limit across a window edge', () => {
    const spec: LimitSpec = { algorithm: 'fixed_window', limit: L, windowMs: W };
    assert.equal(worstSpan(offer(spec, T0 + W - 50, T0 + W + 50, 0.01)), 2 * L);
  });

  it('sliding_log: exact, never more than the limit in any span (limit 1000: it keeps one entry per request)', () => {
    const spec: LimitSpec = { algorithm: 'sliding_log', limit: 1000, windowMs: W };
    const times = offer(spec, T0 + W - 1000, T0 + 3 * W, 7);
    assert.equal(worstSpan(times), 1000);
  });
});
