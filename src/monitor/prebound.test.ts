import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { PreboundCounter, PreboundHistogram } from './prebound.ts';

/** The exposition's lines in a fixed order: Prometheus gives series order no meaning. */
const lines = (text: string): string[] => text.split('\n').sort();
/** prom-client's JSON form with its (never used here) exemplar slots left out. */
const withoutExemplars = (json: unknown): unknown => JSON.parse(JSON.stringify(json, (key, value: unknown) => (key === 'exemplar' ? undefined : value)));

const BUCKETS = [0.001, 0.01, 0.1, 1];
const SAMPLES: [string, number][] = [
  ['a', 0.0005],
  ['a', 0.001],
  ['b', 0.05],
  ['a', 0.5],
  ['b', 3],
  ['a', 0.01],
  ['b', 0.001],
];

test('a pre-bound histogram exposes exactly what prom-client’s Histogram does for the same observations', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['api'], buckets: BUCKETS, registers: [theirs] });
  const histogram = new PreboundHistogram({ name: 'x_seconds', help: 'h', labelNames: ['api'], buckets: BUCKETS, registry: ours });
  for (const [api, v] of SAMPLES) {
    reference.observe({ api }, v);
    histogram.cell(api).observe(v);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.deepEqual(await ours.getMetricsAsJSON(), withoutExemplars(await theirs.getMetricsAsJSON()));
  histogram.cell('a').observe(Number.NaN);
  assert.equal(await ours.metrics(), await theirs.metrics(), 'a non-finite observation is dropped, not counted');
  ours.resetMetrics();
  assert.equal(await ours.metrics(), '# HELP x_seconds h\n# TYPE x_seconds histogram\n');
});

test('a pre-bound counter exposes exactly what prom-client’s Counter does, one series per label set', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Counter({ name: 'r_total', help: 'h', labelNames: ['api', 'status', 'decision'], registers: [theirs] });
  const counter = new PreboundCounter({ name: 'r_total', help: 'h', labelNames: ['api', 'status', 'decision'], registry: ours });
  const requests: [string, number, string][] = [
    ['a', 200, 'allow'],
    ['a', 200, 'allow'],
    ['a', 401, 'deny'],
    ['b', 200, 'allow'],
    ['a', 200, 'deny'],
  ];
  for (const [api, status, decision] of requests) {
    reference.inc({ api, status: String(status), decision });
    counter.cell(api, status, decision).value++;
  }
  assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
  assert.equal(counter.cell('a', 200, 'allow'), counter.cell('a', 200, 'allow'), 'the same label values find the same cell');
  assert.notEqual(counter.cell('a', 200, 'allow'), counter.cell('a', 200, 'deny'));
});

test('a pre-bound metric refuses label counts it cannot walk', () => {
  assert.throws(() => new PreboundCounter({ name: 'n_total', help: 'h', labelNames: [], registry: new Registry() }), /1 to 4 labels/);
  assert.throws(() => new PreboundHistogram({ name: 'n', help: 'h', labelNames: ['a', 'b', 'c', 'd', 'e'], buckets: BUCKETS, registry: new Registry() }), /1 to 4 labels/);
});
