/**
 * Generates docs/configuration.md from the config JSON Schema (src/config/schema.ts): one row per setting with its
 * path, type, default, constraints and description. `npm run docs` rewrites the file; test/docs.test.ts fails
 * when the committed file differs from what this produces, so a schema property cannot go undocumented.
 *
 * Usage: node scripts/gen-config-docs.ts [--check]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SECRET_REF_PATTERN } from '../src/config/refs.ts';
import { configSchema } from '../src/config/schema.ts';

/** Where the generated reference lives, relative to the repository root. */
export const CONFIG_DOCS_PATH = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
export const REGENERATE_COMMAND = 'npm run docs';
/** The published JSON Schema of rampart.yaml (shipped in the package; editors point at it). */
export const CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../schema/rampart.schema.json', import.meta.url));

/**
 * The config schema as a standalone JSON Schema document for editors and CI linters:
 * `# yaml-language-server: $schema=./node_modules/rampart/schema/rampart.schema.json` at the top of rampart.yaml.
 */
export function renderConfigSchema(): string {
  return `${JSON.stringify(configSchema, null, 2)}\n`;
}

interface Schema {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly additionalProperties?: boolean | Schema;
  readonly propertyNames?: Schema;
  readonly items?: Schema;
  readonly required?: readonly string[];
  readonly anyOf?: readonly Schema[];
  readonly oneOf?: readonly Schema[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly pattern?: string;
  readonly uniqueItems?: boolean;
}

export interface Row {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly defaultValue: string;
  readonly constraints: string;
  readonly description: string;
}

/** Walks the schema into one row per setting. Map keys are shown as `<name>`, array items as `[]`. */
export function collectRows(schema: Schema = configSchema as unknown as Schema): Row[] {
  const rows: Row[] = [];
  walkObject(schema, '', rows);
  return rows;
}

/** Paths of settings without a description (their rows would say nothing). */
export function undocumented(rows: readonly Row[] = collectRows()): string[] {
  return rows.filter((r) => r.description === '').map((r) => r.path);
}

function walkObject(schema: Schema, prefix: string, rows: Row[]): void {
  const required = new Set(schema.required ?? []);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    rows.push(rowOf(path, child, required.has(name)));
    descend(child, path, rows);
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object' && schema.properties === undefined) {
    // A map: documented once under a placeholder key.
    descend(extra, `${prefix}.<${placeholderOf(prefix)}>`, rows);
  }
  for (const variant of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    // Alternative shapes that are real config objects (closed) are documented under the same path.
    if (variant.properties && variant.additionalProperties === false) {
      const known = new Set(rows.map((r) => r.path));
      const sub: Row[] = [];
      walkObject(variant, prefix, sub);
      for (const row of sub) if (!known.has(row.path)) rows.push(row);
    }
  }
}

function descend(schema: Schema, path: string, rows: Row[]): void {
  if (schema.properties || schema.anyOf || schema.oneOf || (typeof schema.additionalProperties === 'object' && !schema.properties)) {
    walkObject(schema, path, rows);
  }
  if (schema.items && (schema.items.properties || schema.items.anyOf || schema.items.oneOf)) walkObject(schema.items, `${path}[]`, rows);
}

function placeholderOf(prefix: string): string {
  const last = prefix.split('.').pop() ?? 'name';
  if (last === 'operations') return 'operationId';
  return last.endsWith('s') ? last.slice(0, -1) : 'name';
}

function rowOf(path: string, schema: Schema, required: boolean): Row {
  const extra = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
  const description = schema.description ?? (extra && !schema.properties ? extra.description : undefined) ?? schema.items?.description ?? '';
  return {
    path,
    type: typeOf(schema),
    required,
    defaultValue: schema.default === undefined ? '' : formatValue(schema.default),
    constraints: constraintsOf(schema),
    description: description.replace(/\s*\n\s*/g, ' ').trim(),
  };
}

function typeOf(schema: Schema): string {
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' \\| ');
  const type = Array.isArray(schema.type) ? schema.type.join(' \\| ') : (schema.type as string | undefined);
  if (type === 'array') return schema.items ? `${wrap(typeOf(schema.items))}[]` : 'array';
  if (type === 'object' && !schema.properties && typeof schema.additionalProperties === 'object') return 'map';
  return type ?? 'any';
}

function wrap(type: string): string {
  return type.includes('\\|') ? `(${type})` : type;
}

function constraintsOf(schema: Schema): string {
  const parts: string[] = [];
  const range = (min: number | undefined, max: number | undefined, unit: string) => {
    if (min !== undefined && max !== undefined) parts.push(`${min}–${max}${unit}`);
    else if (min !== undefined) parts.push(`≥ ${min}${unit}`);
    else if (max !== undefined) parts.push(`≤ ${max}${unit}`);
  };
  range(schema.minimum, schema.maximum, '');
  range(schema.minLength, schema.maxLength, ' chars');
  range(schema.minItems, schema.maxItems, ' items');
  if (schema.uniqueItems) parts.push('unique');
  if (schema.pattern === SECRET_REF_PATTERN) parts.push('*secret reference*');
  else if (schema.pattern) parts.push(`pattern \`${schema.pattern}\``);
  const items = schema.items;
  if (items?.pattern) parts.push(`items match \`${items.pattern}\``);
  if (items?.enum) parts.push(`items: ${items.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (schema.propertyNames?.pattern) parts.push(`keys match \`${schema.propertyNames.pattern}\``);
  return parts.join('; ');
}

function formatValue(value: unknown): string {
  return `\`${JSON.stringify(value)}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\\\\\|/g, '\\|');
}

/** The full markdown page. Deterministic: same schema, same bytes. */
export function renderConfigDocs(): string {
  const rows = collectRows();
  const sections = new Map<string, Row[]>();
  for (const row of rows) {
    const top = row.path.split(/[.[]/)[0]!;
    let list = sections.get(top);
    if (!list) sections.set(top, (list = []));
    list.push(row);
  }
  const schema = configSchema as unknown as Schema;
  const topRequired = new Set(schema.required ?? []);
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by scripts/gen-config-docs.ts. Do not edit by hand: run `npm run docs`. -->',
    '',
    'Rampart reads one YAML file (`rampart.yaml`, or `-c <file>`). It is validated against a JSON Schema with',
    '`additionalProperties: false`: an unknown or misspelt key stops start-up with an error naming its path and line',
    'and the keys allowed there. Defaults below are filled in for anything not set. `rampart check -c rampart.yaml`',
    'validates a config (and its OpenAPI specs) without starting anything.',
    '',
    'The same schema ships as `schema/rampart.schema.json` (also in the npm package) for editors and linters: put',
    '`# yaml-language-server: $schema=./node_modules/rampart/schema/rampart.schema.json` on the first line of',
    '`rampart.yaml` to get completion and errors as you type.',
    '',
    'Secrets are never written in the file: fields marked *secret reference* take `${env:NAME}` or `${file:/path}`',
    'and reject literals. Other free-form string fields (those without a pattern) may also take a reference; a',
    'missing variable or unreadable file is a start-up error naming the field. Relative paths are taken from the',
    'config file\'s directory.',
    '',
    'Paths use `.` for nesting, `[]` for list items and `<name>` for keys you choose.',
    '',
  ];
  for (const [top, list] of sections) {
    const head = list[0]!;
    out.push(`## \`${top}\`${topRequired.has(top) ? ' (required)' : ''}`, '');
    if (head.description) out.push(head.description, '');
    out.push('| Path | Type | Default | Constraints | Description |', '|---|---|---|---|---|');
    for (const row of list) {
      const description = (row.required ? '**Required.** ' : '') + row.description;
      out.push(`| \`${row.path}\` | ${cell(row.type)} | ${cell(row.defaultValue)} | ${cell(row.constraints)} | ${cell(description)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

if (import.meta.main) {
  const text = renderConfigDocs();
  const missing = undocumented();
  if (missing.length > 0) process.stderr.write(`warning: settings without a description: ${missing.join(', ')}\n`);
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(CONFIG_DOCS_PATH, 'utf8');
    } catch {
      // treated as out of date
    }
    if (current !== text) {
      process.stderr.write(`docs/configuration.md is out of date: run \`${REGENERATE_COMMAND}\`\n`);
      process.exitCode = 1;
    }
    if (!existsSync(CONFIG_SCHEMA_PATH) || readFileSync(CONFIG_SCHEMA_PATH, 'utf8') !== renderConfigSchema()) {
      process.stderr.write(`schema/rampart.schema.json is out of date: run \`${REGENERATE_COMMAND}\`\n`);
      process.exitCode = 1;
    }
  } else {
    writeFileSync(CONFIG_DOCS_PATH, text);
    mkdirSync(dirname(CONFIG_SCHEMA_PATH), { recursive: true });
    writeFileSync(CONFIG_SCHEMA_PATH, renderConfigSchema());
    process.stdout.write(`wrote ${CONFIG_DOCS_PATH} (${collectRows().length} settings) and ${CONFIG_SCHEMA_PATH}\n`);
  }
}
