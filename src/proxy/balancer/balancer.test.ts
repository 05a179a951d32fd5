/**
 * The balancer's picks and passive health, and the retry budget, as pure logic (a fake clock, pools never used).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool } from 'undici';
import type { UpstreamConfig } from '../../config/types.ts';
import { Balancer, type Target } from './balancer.ts';
import { backoffMs, isIdempotent, RetryBudget } from './retry.ts';

const RETRIES = { attempts: 1, on_status: [502, 503, 504], budget_ratio: 0.2, min_per_second: 3, backoff_ms: 25, max_backoff_ms: 250 };

function upstream(targets: { url: string; weight: number }[], extra: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    targets,
    balance: 'round_robin',
    outlier: { consecutive_failures: 3, ejection_ms: 1000, max_ejection_ms: 4000 },
    retries: RETRIES,
    connect_timeout_ms: 1000,
    headers_timeout_ms: 1000,
    body_timeout_ms: 1000,
    connections: 1,
    keep_alive_timeout_ms: 1000,
    ...extra,
  };
}

function balancer(config: UpstreamConfig, clock: { now: number }, events: { ejected: string[]; health: string[] } = { ejected: [], health: [] }): Balancer {
  return new Balancer('svc', config, () => ({}) as Pool, { ejected: (_u, t, ms, r) => events.ejected.push(`${t}:${ms}:${r}`), health: (_u, t, h) => events.health.push(`${t}:${h}`) }, () => clock.now);
}

const counts = (picks: (Target | undefined)[]) => picks.reduce<Record<string, number>>((acc, t) => ({ ...acc, [t?.label ?? 'none']: (acc[t?.label ?? 'none'] ?? 0) + 1 }), {});

test('smooth weighted round robin: shares follow weights, interleaved rather than in bursts', () => {
  const b = balancer(upstream([{ url: 'http://a:1', weight: 5 }, { url: 'http://b:1', weight: 1 }, { url: 'http://c:1', weight: 1 }]), { now: 0 });
  const picks = Array.from({ length: 70 }, () => b.pick());
  assert.deepEqual(counts(picks), { 'a:1': 50, 'b:1': 10, 'c:1': 10 });
  const first7 = picks.slice(0, 7).map((t) => t!.label);
  assert.deepEqual(first7, ['a:1', 'a:1', 'b:1', 'a:1', 'c:1', 'a:1', 'a:1'], 'nginx order: never five a in a row');
});

test('least requests: the target with the fewest in flight per weight, ties shared by weight', () => {
  const b = balancer(upstream([{ url: 'http://a:1', weight: 1 }, { url: 'http://b:1', weight: 2 }], { balance: 'least_requests' }), { now: 0 });
  const [a, bb] = b.targets;
  a!.inFlight = 2;
  bb!.inFlight = 3; // 3/2 < 2/1
  assert.equal(b.pick(), bb);
  bb!.inFlight = 5;
  assert.equal(b.pick(), a);
  a!.inFlight = 0;
  bb!.inFlight = 0;
  assert.deepEqual(counts(Array.from({ length: 9 }, () => b.pick())), { 'a:1': 3, 'b:1': 6 }, 'idle: ties shared by weight (1:2)');
});

test('passive health: failures in a row eject (a refusal at once), longer each time; success resets the count', () => {
  const clock = { now: 0 };
  const events = { ejected: [] as string[], health: [] as string[] };
  const b = balancer(upstream([{ url: 'http://a:1', weight: 1 }, { url: 'http://b:1', weight: 1 }]), clock, events);
  const [a] = b.targets;
  b.record(a!, 'failed');
  b.record(a!, 'failed');
  b.record(a!, 'ok');
  b.record(a!, 'failed');
  b.record(a!, 'failed');
  assert.ok(a!.inRotation(clock.now), 'two failures after a success do not eject');
  b.record(a!, 'failed');
  assert.ok(!a!.inRotation(clock.now));
  assert.deepEqual(counts(Array.from({ length: 4 }, () => b.pick())), { 'b:1': 4 }, 'an ejected target gets nothing');
  clock.now = 1000;
  assert.ok(a!.inRotation(clock.now), 'back after ejection_ms');
  b.record(a!, 'refused');
  assert.equal(a!.ejectedUntil, 3000, 'a refusal ejects at once, for twice as long');
  clock.now = 3000;
  b.record(a!, 'refused');
  clock.now = 7000;
  b.record(a!, 'refused');
  assert.deepEqual(events.ejected, ['a:1:1000:failed', 'a:1:2000:refused', 'a:1:4000:refused', 'a:1:4000:refused'], 'doubling, capped at max_ejection_ms');
  b.record(b.targets[1]!, 'refused');
  clock.now = 7500;
  assert.equal(b.pick(), b.targets[1], 'b is the last one in rotation: not ejected');
  assert.equal(b.pick(new Set([b.targets[1]!])), undefined, 'tried excludes; nothing else in rotation');
});

test('passive health never ejects the last target in rotation (a failure they all share must not refuse the upstream)', () => {
  const clock = { now: 0 };
  const one = balancer(upstream([{ url: 'http://a:1', weight: 1 }]), clock);
  for (let i = 0; i < 10; i++) one.record(one.targets[0]!, 'refused');
  assert.equal(one.pick(), one.targets[0]);
  assert.equal(one.pick(new Set(one.targets)), undefined);
  const two = balancer(upstream([{ url: 'http://a:1', weight: 1 }, { url: 'http://b:1', weight: 1 }]), clock);
  for (let i = 0; i < 5; i++) for (const t of two.targets) two.record(t, 'failed');
  assert.equal(two.targets.filter((t) => t.inRotation(clock.now)).length, 1, 'one is ejected, the other stays');
  assert.ok(two.pick());
  const check = { path: '/h', interval_ms: 100, timeout_ms: 100, healthy_threshold: 1, unhealthy_threshold: 1 };
  const down = balancer(upstream([{ url: 'http://a:1', weight: 1 }, { url: 'http://b:1', weight: 1 }], { health_check: check }), clock);
  for (const t of down.targets) down.checked(t, false, true);
  assert.equal(down.pick(), undefined, 'failed active checks on every target: none in rotation (503)');
});

test('active checks: thresholds in a row change health; a refusal takes a target out at once; passing clears an ejection', () => {
  const clock = { now: 0 };
  const events = { ejected: [] as string[], health: [] as string[] };
  const check = { path: '/h', interval_ms: 100, timeout_ms: 100, healthy_threshold: 2, unhealthy_threshold: 3 };
  const b = balancer(upstream([{ url: 'http://a:1', weight: 1 }, { url: 'http://b:1', weight: 1 }], { health_check: check }), clock, events);
  const [a] = b.targets;
  b.checked(a!, false, false);
  b.checked(a!, false, false);
  b.checked(a!, true, false);
  b.checked(a!, false, false);
  b.checked(a!, false, false);
  assert.equal(a!.healthy, true, 'a pass in between resets the streak');
  b.checked(a!, false, false);
  assert.equal(a!.healthy, false);
  b.checked(a!, true, false);
  assert.equal(a!.healthy, false, 'one pass is not enough');
  b.record(a!, 'refused');
  b.checked(a!, true, false);
  assert.equal(a!.healthy, true);
  assert.ok(a!.inRotation(clock.now), 'passing its checks ends a pending ejection');
  b.checked(a!, false, true);
  assert.equal(a!.healthy, false, 'a refused check takes it out without waiting for the threshold');
  assert.deepEqual(events.health, ['a:1:false', 'a:1:true', 'a:1:false']);
});

test('retry budget: a share of recent requests, never under the per-second floor; it refills as the window moves', () => {
  const clock = { now: 0 };
  const budget = new RetryBudget({ ...RETRIES, budget_ratio: 0.1, min_per_second: 0 }, () => clock.now);
  for (let i = 0; i < 100; i++) budget.request();
  let granted = 0;
  for (let i = 0; i < 100; i++) if (budget.take()) granted++;
  assert.equal(granted, 10, 'an outage costs at most 10 % more requests');
  clock.now = 11_000;
  assert.equal(budget.take(), false, 'no requests in the window: nothing to take a share of');
  for (let i = 0; i < 20; i++) budget.request();
  assert.equal(budget.take(), true);
  const floor = new RetryBudget({ ...RETRIES, budget_ratio: 0, min_per_second: 2 }, () => clock.now);
  let floorGranted = 0;
  for (let i = 0; i < 50; i++) if (floor.take()) floorGranted++;
  assert.equal(floorGranted, 2, 'min_per_second is per second: not a burst of the whole window');
  clock.now += 1000;
  assert.equal(floor.take(), true, 'the next second has its own floor');
});

test('idempotent methods and the jittered backoff', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) assert.ok(isIdempotent(m), m);
  for (const m of ['POST', 'PATCH', 'CONNECT', 'X']) assert.ok(!isIdempotent(m), m);
  assert.equal(backoffMs(RETRIES, 1, () => 0.999), 24);
  assert.equal(backoffMs(RETRIES, 10, () => 0.999), 249, 'capped at max_backoff_ms');
  assert.equal(backoffMs(RETRIES, 3, () => 0), 0);
});
