import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';
import { findingOf } from './probe.ts';
import { RULES } from './rules.ts';
import { operationLine, sarifLevel, securitySeverity, toSarif } from './report-sarif.ts';
import { formatText } from './report-text.ts';
import type { ScanResult } from './run.ts';
import { OWASP_CATEGORIES, SEVERITIES } from './types.ts';

const addFormats = addFormatsModule as unknown as FormatsPlugin;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(new URL('./sarif-schema-2.1.0.json', import.meta.url), 'utf8')) as object);
const specFile = fileURLToPath(new URL('../../demo/openapi.yaml', import.meta.url));
const cwd = fileURLToPath(new URL('../../', import.meta.url));

const evidence = { request: { method: 'GET', url: 'http://127.0.0.1:1/orders/ord-5', headers: { authorization: 'Bearer ****' } }, response: { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"ord-5"}' } };
const result: ScanResult = {
  target: 'http://127.0.0.1:1/',
  specFile,
  profile: 'safe',
  dryRun: false,
  planned: [],
  plannedRequests: 0,
  findings: SEVERITIES.map((severity, i) => findingOf(Object.keys(RULES)[i]!, { endpoint: 'GET /orders/{orderId}', operation: { operationId: i === 0 ? 'getOrder' : 'nowhere' } as never, detail: `a ${severity} finding`, evidence: [evidence], severity })),
  requestsSent: 3,
  learnt: { objects: 1, responses: 1 },
  notes: [],
  errors: [],
  startedAt: new Date(0).toISOString(),
  finishedAt: new Date(1000).toISOString(),
};

test('the SARIF log validates against the SARIF 2.1.0 schema, with and without results', () => {
  const sarif = toSarif(result, '0.1.0', cwd);
  assert.ok(validate(sarif), JSON.stringify(validate.errors?.slice(0, 3)));
  assert.ok(validate(toSarif({ ...result, findings: [] }, '0.1.0', cwd)), JSON.stringify(validate.errors?.slice(0, 3)));
  // The validator is not vacuous: a level SARIF does not know is refused.
  const broken = structuredClone(sarif) as { runs: { results: { level: string }[] }[] };
  broken.runs[0]!.results[0]!.level = 'critical';
  assert.equal(validate(broken), false);
});

test('rules per probe kind with help and fix; results with levels from severities, located at the operation', () => {
  const sarif = toSarif(result, '0.1.0', cwd) as { runs: [{ tool: { driver: { rules: { id: string; help: { text: string }; properties: { tags: string[] } }[] } }; results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } }; logicalLocations: { name: string }[] }[] }[] }] };
  const [run] = sarif.runs;
  assert.equal(run.tool.driver.rules.length, Object.keys(RULES).length);
  for (const rule of run.tool.driver.rules) {
    assert.match(rule.help.text, /Fix: ./);
    assert.ok(rule.properties.tags.some((t) => t in OWASP_CATEGORIES));
  }
  assert.deepEqual(run.results.map((r) => r.level), ['note', 'note', 'warning', 'error', 'error']);
  for (const r of run.results) assert.equal(run.tool.driver.rules[r.ruleIndex]?.id, r.ruleId);
  const [first, second] = run.results;
  assert.equal(first?.locations[0]?.physicalLocation.artifactLocation.uri, 'demo/openapi.yaml');
  const line = first?.locations[0]?.physicalLocation.region.startLine ?? 0;
  assert.match(readFileSync(specFile, 'utf8').split('\n')[line - 1] ?? '', /operationId: getOrder$/);
  assert.equal(second?.locations[0]?.physicalLocation.region.startLine, 1, 'an operation not in the file points at its first line');
  assert.equal(first?.locations[0]?.logicalLocations[0]?.name, 'getOrder');
});

test('severity mappings and operation lines', () => {
  assert.deepEqual(SEVERITIES.map(sarifLevel), ['note', 'note', 'warning', 'error', 'error']);
  assert.deepEqual(SEVERITIES.map(securitySeverity), ['0.0', '3.0', '5.5', '8.0', '9.5']);
  assert.equal(operationLine('a: 1\n    operationId: getOrder\n    operationId: getOrders\n', 'getOrders'), 3);
  assert.equal(operationLine('{\n  "operationId": "x.y",\n  "operationId": "x",\n}', 'x'), 3);
  assert.equal(operationLine('', 'x'), undefined);
});

test('the text report counts per severity and category, then each finding with evidence and fix', () => {
  const text = formatText(result);
  assert.match(text, /5 finding\(s\): 1 critical, 1 high, 1 medium, 1 low, 1 info; 3 requests sent/);
  assert.match(text, /By category:\n {2}API1:2023 {3}Broken Object Level Authorization: \d/);
  assert.match(text, /\[CRITICAL\] API\d+:2023 /);
  assert.match(text, / {4}> authorization: Bearer \*\*\*\*/);
  assert.match(text, / {4}< 200/);
  assert.match(text, / {2}Fix: /);
});
