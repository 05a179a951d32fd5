import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKET_MS, MAX_KEYS_PER_BUCKET, OTHER, TrafficStats } from './traffic.ts';
import type { RequestOutcome } from '../pipeline/types.ts';

function outcome(fields: Partial<{ ip: string; consumer: string; code: string; ms: number }>): RequestOutcome {
  return {
    clientIp: fields.ip ?? '192.0.2.1',
    identity: fields.consumer ? { subject: fields.consumer, consumer: fields.consumer, roles: [], scopes: [], claims: {}, method: 'api_key' } : undefined,
    decision: fields.code ? 'deny' : 'allow',
    code: fields.code,
    totalNs: BigInt(Math.round((fields.ms ?? 1) * 1e6)),
  } as unknown as RequestOutcome;
}

test('counts requests and denies per code per bucket, percentiles from the latency bins', () => {
  let now = Date.UTC(2026, 0, 1, 0, 0, 0);
  const stats = new TrafficStats(() => now);
  for (let i = 0; i < 98; i++) stats.record(outcome({ ms: 2 }));
  stats.record(outcome({ code: 'rate_limited', ms: 500 }));
  stats.record(outcome({ code: 'rate_limited', ms: 500 }));
  now += BUCKET_MS;
  stats.record(outcome({ code: 'unauthorized' }));
  const s = stats.summary(60);
  assert.equal(s.requests, 101);
  assert.equal(s.denied, 3);
  assert.deepEqual(s.denies, { rate_limited: 2, unauthorized: 1 });
  assert.equal(s.series.length, 6);
  assert.equal(s.series.at(-2)!.requests, 100);
  assert.equal(s.series.at(-1)!.denied, 1);
  const p50 = s.series.at(-2)!.p50!;
  const p99 = s.series.at(-2)!.p99!;
  assert.ok(p50 >= 2 && p50 < 2.5, `p50 ${p50}`);
  assert.ok(p99 >= 500 && p99 < 650, `p99 ${p99}`);
});

test('a flood of distinct client IPs and consumers stays bounded per bucket; the rest count as (other)', () => {
  const now = Date.UTC(2026, 0, 1);
  const stats = new TrafficStats(() => now);
  for (let i = 0; i < 20_000; i++) stats.record(outcome({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, consumer: `c${i}` }));
  const s = stats.summary(10);
  assert.equal(s.requests, 20_000);
  assert.equal(s.top_ips[0]!.ip, OTHER);
  assert.equal(s.top_ips[0]!.requests, 20_000 - MAX_KEYS_PER_BUCKET);
  assert.equal(s.top_consumers[0]!.consumer, OTHER);
  assert.equal(s.top_ips.length, 10);
});

test('old buckets are forgotten: a slot reused an hour later starts from zero', () => {
  let now = Date.UTC(2026, 0, 1);
  const stats = new TrafficStats(() => now);
  stats.record(outcome({ code: 'forbidden' }));
  now += 3600_000;
  stats.record(outcome({}));
  const s = stats.summary(3600);
  assert.equal(s.requests, 1);
  assert.equal(s.denied, 0);
  assert.equal(s.series.length, 360);
});

test('deny listeners see denies only, and one that throws does not stop counting', () => {
  const stats = new TrafficStats();
  const seen: string[] = [];
  stats.onDeny(() => {
    throw new Error('boom');
  });
  const off = stats.onDeny((o) => seen.push(o.code!));
  stats.record(outcome({}));
  stats.record(outcome({ code: 'ip_blocked' }));
  off();
  stats.record(outcome({ code: 'ip_blocked' }));
  assert.deepEqual(seen, ['ip_blocked']);
  assert.equal(stats.summary(10).requests, 3);
});
