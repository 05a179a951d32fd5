/**
 * The docs stay true to the code: docs/configuration.md is exactly what scripts/gen-config-docs.ts generates from
 * the config schema (so no setting can be undocumented), and docs/errors.md documents every error code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_DOCS_PATH, REGENERATE_COMMAND, collectRows, renderConfigDocs, undocumented } from '../scripts/gen-config-docs.ts';
import { ERRORS, PROBLEM_TYPE_BASE } from '../src/problem.ts';

const ERRORS_DOC = new URL('../docs/errors.md', import.meta.url);

test('every config setting has a description', () => {
  const missing = undocumented();
  assert.deepEqual(missing, [], `add a "description" to these schema properties: ${missing.join(', ')}`);
});

test('docs/configuration.md matches the config schema', () => {
  let committed = '';
  try {
    committed = readFileSync(CONFIG_DOCS_PATH, 'utf8');
  } catch {
    assert.fail(`docs/configuration.md is missing: run \`${REGENERATE_COMMAND}\``);
  }
  const generated = renderConfigDocs();
  if (committed !== generated) {
    const have = new Set(committed.split('\n'));
    const stale = generated.split('\n').filter((l) => !have.has(l)).slice(0, 5);
    assert.fail(`docs/configuration.md is out of date with src/config/schema.ts: run \`${REGENERATE_COMMAND}\` and commit the result.\nFirst missing lines:\n${stale.join('\n')}`);
  }
});

test('the configuration reference has one row per schema property', () => {
  const text = readFileSync(CONFIG_DOCS_PATH, 'utf8');
  for (const row of collectRows()) assert.ok(text.includes(`| \`${row.path}\` |`), `${row.path} missing: run \`${REGENERATE_COMMAND}\``);
});

test('docs/errors.md documents every error code with its type URI, status and title', () => {
  const text = readFileSync(ERRORS_DOC, 'utf8');
  const rows = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\| `([a-z_]+)` \|/.exec(line);
    if (match) rows.set(match[1]!, line);
  }
  for (const [code, entry] of Object.entries(ERRORS)) {
    const row = rows.get(code);
    assert.ok(row, `error code "${code}" (src/problem.ts) is not documented in docs/errors.md: add a table row`);
    const cells = row.split(' | ').map((c) => c.trim());
    assert.equal(cells[1], `\`${PROBLEM_TYPE_BASE}${code}\``, `${code}: type URI`);
    assert.equal(cells[2], String(entry.status), `${code}: status`);
    assert.equal(cells[3], entry.title, `${code}: title`);
    assert.ok((cells[4] ?? '').length > 20, `${code}: say when it happens`);
  }
  for (const code of rows.keys()) assert.ok(code in ERRORS, `docs/errors.md documents "${code}", which src/problem.ts no longer has`);
});
