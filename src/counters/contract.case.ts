/**
 * The contract every counter backend passes, run against memory and real Redis with a frozen clock
 * (src/counters/memory.test.ts, src/counters/redis.test.ts). Not a test file itself: it registers tests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CounterBackend, LimitSpec } from './types.ts';

/** A frozen clock the suite moves by hand; starts on a round epoch so window edges are easy to state. */
export interface FrozenClock {
  now: number;
  readonly read: () => number;
}

export const T0 = 1_700_000_000_000;

export interface ContractSubject {
  readonly backend: CounterBackend;
  cleanup(): Promise<void>;
}

/** Registers the shared contract tests for one backend. `make` builds a fresh, isolated backend on `clock`. */
export function counterContract(name: string, make: (clock: () => number) => Promise<ContractSubject>): void {
  describe(`counter contract: ${name}`, () => {
    const clock: FrozenClock = { now: T0, read: () => clock.now };
    let subject: ContractSubject;
    let b: CounterBackend;
    let n = 0;
    /** A fresh key per test so tests never share state. */
    const key = (label: string) => `t${++n}:${label}`;
    before(async () => {
      subject = await make(clock.read);
      b = subject.backend;
    });
    after(() => subject.cleanup());
    const at = (offset: number) => (clock.now = T0 + offset);

    it('fixed window: allows the limit, denies until the window edge, then resets', async () => {
      const k = key('fw');
      const spec: LimitSpec = { algorithm: 'fixed_window', limit: 3, windowMs: 1000 };
      at(0);
      assert.deepEqual(await b.decide(k, spec), { allowed: true, limit: 3, remaining: 2, resetMs: 1000, retryAfterMs: 0 });
      await b.decide(k, spec);
      at(400);
      assert.equal((await b.decide(k, spec)).remaining, 0);
      assert.deepEqual(await b.decide(k, spec), { allowed: false, limit: 3, remaining: 0, resetMs: 600, retryAfterMs: 600 });
      at(999);
      assert.equal((await b.decide(k, spec)).retryAfterMs, 1);
      at(1000);
      assert.deepEqual(await b.decide(k, spec), { allowed: true, limit: 3, remaining: 2, resetMs: 1000, retryAfterMs: 0 });
    });

    it('sliding window: weighs the previous window by its overlap', async () => {
      const k = key('sw');
      const spec: LimitSpec = { algorithm: 'sliding_window', limit: 10, windowMs: 1000 };
      at(0);
      for (let i = 0; i < 10; i++) assert.equal((await b.decide(k, spec)).allowed, true, `request ${i}`);
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(1000); // previous window fully weighted
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(1500); // previous weighs 0.5 → 5 left
      for (let i = 0; i < 5; i++) assert.equal((await b.decide(k, spec)).allowed, true, `request ${i} at 1500`);
      const denied = await b.decide(k, spec);
      assert.equal(denied.allowed, false);
      // 10·w + 5 + 1 ≤ 10 ⇔ w ≤ 0.4 ⇔ 600 ms into the window.
      assert.equal(denied.retryAfterMs, 100);
      at(1599);
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(1600);
      assert.equal((await b.decide(k, spec)).allowed, true);
      at(3000); // two windows later: nothing left
      const fresh = await b.decide(k, spec);
      assert.deepEqual([fresh.allowed, fresh.remaining], [true, 9]);
    });

    it('sliding log: exact, an entry leaves the window exactly windowMs after it entered', async () => {
      const k = key('sl');
      const spec: LimitSpec = { algorithm: 'sliding_log', limit: 3, windowMs: 1000 };
      for (const t of [0, 100, 200]) {
        at(t);
        assert.equal((await b.decide(k, spec)).allowed, true);
      }
      at(300);
      assert.deepEqual(await b.decide(k, spec), { allowed: false, limit: 3, remaining: 0, resetMs: 700, retryAfterMs: 700 });
      at(999);
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(1000);
      const ok = await b.decide(k, spec);
      assert.deepEqual([ok.allowed, ok.remaining, ok.resetMs], [true, 0, 100]);
      at(1050);
      assert.deepEqual(await b.decide(k, spec), { allowed: false, limit: 3, remaining: 0, resetMs: 50, retryAfterMs: 50 });
    });

    it('token bucket (GCRA): burst, then one token per interval at exact arrival times', async () => {
      const k = key('tb');
      const spec: LimitSpec = { algorithm: 'token_bucket', intervalMs: 100, burst: 3 };
      at(0);
      assert.deepEqual(
        (await Promise.all([b.decide(k, spec), b.decide(k, spec), b.decide(k, spec)])).map((d) => d.remaining).sort(),
        [0, 1, 2],
      );
      assert.deepEqual(await b.decide(k, spec), { allowed: false, limit: 3, remaining: 0, resetMs: 300, retryAfterMs: 100 });
      at(99);
      assert.equal((await b.decide(k, spec)).retryAfterMs, 1);
      at(100);
      assert.deepEqual(await b.decide(k, spec), { allowed: true, limit: 3, remaining: 0, resetMs: 300, retryAfterMs: 0 });
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(250); // 1.5 tokens earned since 100 → one request
      assert.equal((await b.decide(k, spec)).allowed, true);
      const denied = await b.decide(k, spec);
      assert.deepEqual([denied.allowed, denied.retryAfterMs], [false, 50]);
      at(10_000); // long idle: bucket full again, not more
      for (let i = 0; i < 3; i++) assert.equal((await b.decide(k, spec)).allowed, true);
      assert.equal((await b.decide(k, spec)).allowed, false);
    });

    it('token bucket (GCRA): a fractional interval refills at the exact microsecond', async () => {
      const k = key('tb3');
      const spec: LimitSpec = { algorithm: 'token_bucket', intervalMs: 1000 / 3, burst: 1 };
      at(0);
      assert.equal((await b.decide(k, spec)).allowed, true);
      at(333);
      assert.deepEqual(await b.decide(k, spec), { allowed: false, limit: 1, remaining: 0, resetMs: 1, retryAfterMs: 1 });
      at(333.333);
      assert.equal((await b.decide(k, spec)).allowed, true);
      at(666.665);
      assert.equal((await b.decide(k, spec)).allowed, false);
      at(666.666);
      assert.equal((await b.decide(k, spec)).allowed, true);
    });

    it('keys are isolated for every algorithm', async () => {
      const specs: LimitSpec[] = [
        { algorithm: 'fixed_window', limit: 1, windowMs: 1000 },
        { algorithm: 'sliding_window', limit: 1, windowMs: 1000 },
        { algorithm: 'sliding_log', limit: 1, windowMs: 1000 },
        { algorithm: 'token_bucket', intervalMs: 1000, burst: 1 },
      ];
      at(0);
      for (const spec of specs) {
        const a = key(`iso-a-${spec.algorithm}`);
        const c = key(`iso-b-${spec.algorithm}`);
        assert.equal((await b.decide(a, spec)).allowed, true);
        assert.equal((await b.decide(a, spec)).allowed, false);
        assert.equal((await b.decide(c, spec)).allowed, true, `${spec.algorithm}: other key unaffected`);
        // Keys that only differ in hash-tag braces stay distinct too.
        assert.equal((await b.decide(`{${a}}`, spec)).allowed, true);
      }
    });

    it('failure counters: count within the window, expire after it, lock past the threshold', async () => {
      const g = key('bf');
      at(0);
      assert.deepEqual(await b.hit(g, ['ip', 'acct'], 1000, [0, 3], 5000), [
        { count: 1, ttlMs: 1000 },
        { count: 1, ttlMs: 1000 },
      ]);
      at(200);
      await b.hit(g, ['ip', 'acct'], 1000, [0, 3], 5000);
      const third = await b.hit(g, ['ip', 'acct'], 1000, [0, 3], 5000);
      assert.deepEqual(third, [
        { count: 3, ttlMs: 800 },
        { count: 3, ttlMs: 5000 },
      ]);
      at(999);
      assert.deepEqual(await b.peek(g, ['ip', 'acct', 'none']), [
        { count: 3, ttlMs: 1 },
        { count: 3, ttlMs: 4201 },
        { count: 0, ttlMs: 0 },
      ]);
      at(1000);
      assert.deepEqual((await b.peek(g, ['ip']))[0], { count: 0, ttlMs: 0 });
      at(5199);
      assert.equal((await b.peek(g, ['acct']))[0]!.count, 3);
      at(5200);
      assert.equal((await b.peek(g, ['acct']))[0]!.count, 0);
      assert.equal((await b.hit(g, ['acct'], 1000, [3], 5000))[0]!.count, 1);
      await b.clear(g, ['acct']);
      assert.equal((await b.peek(g, ['acct']))[0]!.count, 0);
    });

    it('reservations: parallel attempts never pass a threshold; a refused one changes nothing', async () => {
      const g = key('rsv');
      at(0);
      const request = { keys: ['ip', 'acct'], thresholds: [0, 3], windowMs: 1000, lockMs: 5000 };
      const results = await Promise.all(Array.from({ length: 10 }, () => b.reserve(g, request)));
      assert.equal(results.filter((r) => r.allowed).length, 3, 'exactly the threshold is reserved');
      const reached = results.find((r) => r.allowed && r.states[1]!.count === 3)!;
      assert.deepEqual(reached.states, [{ count: 3, ttlMs: 1000 }, { count: 3, ttlMs: 5000 }], 'the reservation reaching the threshold starts the lockout');
      const refused = results.find((r) => !r.allowed)!;
      assert.deepEqual(refused, { allowed: false, guardMs: 0, states: [{ count: 3, ttlMs: 1000 }, { count: 3, ttlMs: 5000 }] });
      at(500);
      assert.deepEqual(await b.peek(g, ['ip', 'acct']), [{ count: 3, ttlMs: 500 }, { count: 3, ttlMs: 4500 }], 'refusals were not counted');
      // A threshold of 0 never refuses; a fresh key starts its window on the reservation.
      assert.deepEqual((await b.reserve(g, { keys: ['other'], thresholds: [0], windowMs: 1000, lockMs: 0 })).states, [{ count: 1, ttlMs: 1000 }]);
      at(5000);
      assert.equal((await b.reserve(g, request)).allowed, true, 'the lockout ends at its expiry');
    });

    it('release: takes one reserved count back, never below zero, never creates or extends a key', async () => {
      const g = key('rel');
      at(0);
      const request = { keys: ['a', 'b'], thresholds: [2, 0], windowMs: 1000, lockMs: 1000 };
      await b.reserve(g, request);
      await b.reserve(g, request);
      assert.equal((await b.reserve(g, request)).allowed, false);
      at(100);
      await b.release(g, ['a', 'missing']);
      assert.deepEqual(await b.peek(g, ['a', 'b', 'missing']), [{ count: 1, ttlMs: 900 }, { count: 2, ttlMs: 900 }, { count: 0, ttlMs: 0 }]);
      assert.equal((await b.reserve(g, request)).allowed, true, 'a released slot can be reserved again');
      await b.release(g, ['b']);
      await b.release(g, ['b']);
      await b.release(g, ['b']);
      assert.equal((await b.peek(g, ['b']))[0]!.count, 0);
      at(1100); // 'a' reached its threshold again at 100: locked until 1100
      await b.release(g, ['a']);
      assert.deepEqual(await b.peek(g, ['a']), [{ count: 0, ttlMs: 0 }], 'an expired key stays expired');
    });

    it('reservation guards: refuse while live, report their ttl, are never changed', async () => {
      const g = key('grd');
      at(0);
      await b.hit(g, ['lock'], 2000, [1], 2000);
      const request = { keys: ['fail'], thresholds: [0], windowMs: 10_000, lockMs: 0, guards: ['lock', 'absent'] };
      assert.deepEqual(await b.reserve(g, request), { allowed: false, guardMs: 2000, states: [{ count: 0, ttlMs: 0 }] });
      assert.deepEqual(await b.peek(g, ['lock', 'fail', 'absent']), [{ count: 1, ttlMs: 2000 }, { count: 0, ttlMs: 0 }, { count: 0, ttlMs: 0 }]);
      at(2000);
      assert.deepEqual(await b.reserve(g, request), { allowed: true, guardMs: 0, states: [{ count: 1, ttlMs: 10_000 }] });
    });

    it('distinct members: counted within the window, capped, expired after it', async () => {
      const g = key('ds');
      at(0);
      assert.equal(await b.distinct(g, 'ip', 'alice', 1000, 5), 1);
      assert.equal(await b.distinct(g, 'ip', 'bob', 1000, 5), 2);
      assert.equal(await b.distinct(g, 'ip', 'alice', 1000, 5), 2);
      at(500);
      for (const m of ['c', 'd', 'e', 'f', 'g']) await b.distinct(g, 'ip', m, 1000, 5);
      assert.equal(await b.distinct(g, 'ip', 'h', 1000, 5), 5);
      at(1600);
      assert.equal(await b.distinct(g, 'ip', 'z', 1000, 5), 1);
    });

    it('list and reset find stored keys by prefix', async () => {
      const k = key('adm');
      at(0);
      // A long interval so the stored key's real-time TTL cannot lapse on a loaded machine.
      await b.decide(k, { algorithm: 'token_bucket', intervalMs: 600_000, burst: 1 });
      const listed = await b.list(`{${k}}`, 10);
      assert.equal(listed.length, 1, JSON.stringify(listed));
      assert.ok(listed[0]!.ttlMs > 0);
      assert.equal(await b.reset(`{${k}}`, 10), 1);
      assert.equal((await b.decide(k, { algorithm: 'token_bucket', intervalMs: 600_000, burst: 1 })).allowed, true);
    });
  });
}
