import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { configSchema } from '../config/schema.ts';
import { checkConfigSemantics } from '../config/semantics.ts';
import type { RampartConfig } from '../config/types.ts';
import { planScan } from './planner.ts';
import { RULES } from './rules.ts';
import { OWASP_CATEGORIES } from './types.ts';

test('the Rampart config each fix names is a valid API entry of rampart.yaml (schema and semantic checks)', () => {
  const validate = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }).compile(configSchema);
  const withConfig = Object.values(RULES).filter((r) => r.config);
  assert.ok(withConfig.length >= 10);
  for (const rule of withConfig) {
    const config = {
      listen: { http: { port: 8080, host: '127.0.0.1', insecure: true } },
      upstreams: { orders: { url: 'http://127.0.0.1:3000' } },
      apis: [{ name: 'orders', spec: './openapi.yaml', upstream: 'orders', ...rule.config }],
    };
    assert.ok(validate(config), `${rule.id}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    assert.deepEqual(checkConfigSemantics(config as unknown as RampartConfig), [], rule.id);
    assert.match(rule.fix, /Rampart \(in the API's entry of rampart\.yaml\): `\{ .+ \}`\.$/, rule.id);
  }
});

test('every rule has an OWASP 2023 category, help and a fix; every rule a probe plans exists', () => {
  for (const rule of Object.values(RULES)) {
    assert.ok(rule.category in OWASP_CATEGORIES, rule.id);
    assert.ok(rule.help.length > 20 && rule.fix.length > 20, rule.id);
    assert.ok(rule.id.startsWith(`api${rule.category.slice(3, rule.category.indexOf(':'))}.`), `${rule.id} is filed under ${rule.category}`);
  }
  const spec = { file: 'x', document: {} as never, operations: [] };
  for (const step of planScan({ spec, identities: [], profile: 'full' })) for (const p of step.probes) assert.ok(p.rule === 'discovery' || p.rule in RULES, p.rule);
});
