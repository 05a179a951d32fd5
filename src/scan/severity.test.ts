import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCode } from './command.ts';
import { findingOf } from './probe.ts';
import type { ScanResult } from './run.ts';
import { findingsAtOrAbove, isSeverity, sortFindings } from './severity.ts';
import { SEVERITIES, type Severity } from './types.ts';

const finding = (severity: Severity, rule = 'api8.banner') => findingOf(rule, { endpoint: `GET /${severity}`, key: severity, detail: severity, evidence: [], severity });
const all = SEVERITIES.map((s) => finding(s));

test('the threshold keeps findings at or above it', () => {
  assert.deepEqual(findingsAtOrAbove(all, 'info').length, 5);
  assert.deepEqual(findingsAtOrAbove(all, 'medium').map((f) => f.severity), ['medium', 'high', 'critical']);
  assert.deepEqual(findingsAtOrAbove(all, 'critical').map((f) => f.severity), ['critical']);
  assert.deepEqual(findingsAtOrAbove([finding('low')], 'medium'), []);
});

test('severity names, and the report order (most severe first, then rule)', () => {
  assert.ok(isSeverity('high'));
  assert.ok(!isSeverity('severe'));
  assert.ok(!isSeverity('HIGH'));
  const sorted = sortFindings([finding('low', 'api8.banner'), finding('high', 'api3.secret-exposure'), finding('high', 'api1.bola-read')]);
  assert.deepEqual(sorted.map((f) => f.rule), ['api1.bola-read', 'api3.secret-exposure', 'api8.banner']);
});

test('exit code: 1 with a finding at or above --fail-on, 0 below it, 0 for a dry run', () => {
  const result = (findings: ReturnType<typeof finding>[], dryRun = false) => ({ findings, dryRun }) as unknown as ScanResult;
  assert.equal(exitCode(result([finding('medium')]), 'medium'), 1);
  assert.equal(exitCode(result([finding('low')]), 'medium'), 0);
  assert.equal(exitCode(result([]), 'info'), 0);
  assert.equal(exitCode(result([finding('critical')], true), 'info'), 0);
});

test('a finding carries its rule\'s category, title and fix, and a stable id', () => {
  const f = findingOf('api1.bola-read', { endpoint: 'GET /orders/{id}', key: 'a->b', detail: 'd', evidence: [] });
  assert.equal(f.category, 'API1:2023');
  assert.equal(f.severity, 'high');
  assert.equal(f.id, 'api1.bola-read:GET /orders/{id}:a->b');
  assert.match(f.fix, /owner_rules/);
  assert.throws(() => findingOf('api99.nope', { detail: '', evidence: [] }), /unknown scan rule/);
});
