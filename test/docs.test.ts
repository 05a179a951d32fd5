/**
 * The docs stay true to the code: docs/configuration.md is exactly what scripts/gen-config-docs.ts generates from
 * the config schema (so no setting can be undocumented), docs/errors.md documents every error code, and the
 * copy-paste configs marked in the docs validate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../src/config/schema.ts';
import { checkConfigSemantics } from '../src/config/semantics.ts';
import type { RampartConfig } from '../src/config/types.ts';
import { CONFIG_DOCS_PATH, CONFIG_SCHEMA_PATH, REGENERATE_COMMAND, collectRows, renderConfigDocs, renderConfigSchema, undocumented } from '../scripts/gen-config-docs.ts';
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

test('schema/rampart.schema.json is the config schema, and the shipped demo config validates against it', () => {
  let committed = '';
  try {
    committed = readFileSync(CONFIG_SCHEMA_PATH, 'utf8');
  } catch {
    assert.fail(`schema/rampart.schema.json is missing: run \`${REGENERATE_COMMAND}\``);
  }
  assert.equal(committed, renderConfigSchema(), `schema/rampart.schema.json is out of date: run \`${REGENERATE_COMMAND}\``);
  // As an editor or linter would use it: the published file alone, no Rampart code.
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(committed) as object);
  const demo = parseYaml(readFileSync(new URL('../demo/rampart.yaml', import.meta.url), 'utf8')) as unknown;
  assert.ok(validate(demo), JSON.stringify(validate.errors));
  assert.equal(validate({ listen: {}, upstreams: {}, apis: [], nonsense: 1 }), false, 'an unknown top-level key is refused');
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

/**
 * Copy-paste configs in the docs stay valid: every ```yaml block preceded by `<!-- rampart-config -->` is a whole
 * rampart.yaml and must pass the config schema and the semantic checks (references are not resolved: the files
 * and variables they name exist only on the reader's machine).
 */
const DOCS_DIR = new URL('../docs/', import.meta.url);
const MARKER = '<!-- rampart-config -->';
const PAGES_WITH_FULL_CONFIG = ['upstreams.md', 'tracing.md', 'authn-jwt.md', 'authn-apikey.md', 'authn-introspection.md', 'authn-mtls.md', 'identity-upstream.md', 'app-tokens.md', 'upstream-credentials.md'];

function fullConfigBlocks(text: string): { line: number; yaml: string }[] {
  const blocks: { line: number; yaml: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length - 1; i++) {
    if (lines[i]!.trim() !== MARKER || lines[i + 1]!.trim() !== '```yaml') continue;
    const end = lines.findIndex((l, j) => j > i + 1 && l.trim() === '```');
    assert.ok(end > 0, `unterminated yaml block after line ${i + 1}`);
    blocks.push({ line: i + 2, yaml: lines.slice(i + 2, end).join('\n') });
  }
  return blocks;
}

test('docs: configs marked as full rampart.yaml pass schema validation and semantic checks', () => {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(configSchema);
  const pages = readdirSync(DOCS_DIR).filter((f) => f.endsWith('.md'));
  for (const page of PAGES_WITH_FULL_CONFIG) assert.ok(pages.includes(page), `${page} missing`);
  for (const page of pages) {
    const blocks = fullConfigBlocks(readFileSync(new URL(page, DOCS_DIR), 'utf8'));
    if (PAGES_WITH_FULL_CONFIG.includes(page)) assert.ok(blocks.length > 0, `docs/${page} has no block marked ${MARKER}`);
    for (const block of blocks) {
      const where = `docs/${page} line ${block.line}`;
      const data: unknown = parseYaml(block.yaml);
      assert.ok(validate(data), `${where}: ${ajv.errorsText(validate.errors)}`);
      const issues = checkConfigSemantics(data as RampartConfig);
      assert.deepEqual(issues, [], `${where}: ${JSON.stringify(issues)}`);
    }
  }
});
