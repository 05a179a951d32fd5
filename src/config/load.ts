import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { configSchema } from './schema.ts';
import { ConfigError, pointerToPath, type ConfigIssue } from './errors.ts';
import { parseReference, readReference } from './secrets.ts';
import { checkConfigSemantics } from './semantics.ts';
import type { RampartConfig } from './types.ts';

export interface LoadedConfig {
  readonly config: RampartConfig;
  /** Absolute path of the config file. */
  readonly file: string;
  /** Files whose change should trigger a reload (the config itself and the specs it names). */
  readonly watchFiles: readonly string[];
}

// verbose: errors carry `parentSchema`, which names the allowed keys and spots secret-reference fields.
const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true });
const validateSchema = ajv.compile(configSchema);

/** Config paths whose `${file:…}` references stay as paths (the TLS module reads and watches them itself). */
const KEEP_AS_PATH = new Set(['listen.https.cert', 'listen.https.key']);

/**
 * Loads `rampart.yaml`: parse, validate against the schema (filling defaults), check cross-references, resolve
 * `${env:…}`/`${file:…}` references, and deep-freeze. Throws ConfigError naming every problem's config path.
 */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(absolute, [{ path: '(file)', message: `cannot read the config file (${code})`, hint: 'pass an existing file with -c' }]);
  }
  return loadConfigText(text, absolute, env);
}

/** As loadConfigFile, from text; `file` names the source in errors and anchors relative paths. */
export function loadConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '(yaml)',
        message: e.message.split('\n')[0]!,
        line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
        hint: 'fix the YAML syntax',
      })) as ConfigIssue[],
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const lineOf = (pointer: string): number | undefined => lineOfPointer(doc, lineCounter, pointer);

  if (!validateSchema(data)) {
    throw new ConfigError(file, (validateSchema.errors ?? []).map((e) => describeSchemaError(e, lineOf)));
  }
  const config = data as unknown as RampartConfig;
  const baseDir = dirname(file);
  const semanticIssues = checkConfigSemantics(config).map((i) => ({ ...i, line: i.line ?? lineOf(pathToPointer(i.path)) }));
  if (semanticIssues.length > 0) throw new ConfigError(file, semanticIssues);

  const refIssues: ConfigIssue[] = [];
  resolveReferences(data, '', baseDir, env, refIssues, lineOf);
  if (refIssues.length > 0) throw new ConfigError(file, refIssues);

  const mutable = data as { apis: { spec?: string }[] };
  for (const api of mutable.apis) if (api.spec) api.spec = resolve(baseDir, api.spec);
  const watchFiles = [file, ...mutable.apis.flatMap((a) => (a.spec ? [a.spec] : []))];
  return { config: deepFreeze(config), file, watchFiles };
}

function resolveReferences(
  node: unknown,
  path: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  lineOf: (pointer: string) => number | undefined,
): void {
  if (Array.isArray(node) || (node !== null && typeof node === 'object')) {
    const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
    for (const [key, value] of entries) {
      const childPath = Array.isArray(node) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      if (typeof value === 'string') {
        const ref = parseReference(value, baseDir);
        if (!ref) continue;
        const target = node as Record<string, unknown>;
        if (KEEP_AS_PATH.has(childPath)) {
          if (ref.kind === 'file') target[key] = ref.target;
          else issues.push({ path: childPath, message: 'must be a ${file:…} reference', hint: 'TLS material is read from files so it can be reloaded' });
          continue;
        }
        try {
          target[key] = readReference(ref, env);
        } catch (error) {
          issues.push({ path: childPath, message: (error as Error).message, hint: 'set the variable or create the file', line: lineOf(pathToPointer(childPath)) });
        }
      } else {
        resolveReferences(value, childPath, baseDir, env, issues, lineOf);
      }
    }
  }
}

function describeSchemaError(error: ErrorObject, lineOf: (pointer: string) => number | undefined): ConfigIssue {
  const params = error.params as Record<string, unknown>;
  let pointer = error.instancePath;
  let message = error.message ?? 'is invalid';
  let hint: string | undefined;
  switch (error.keyword) {
    case 'additionalProperties': {
      pointer = `${pointer}/${String(params['additionalProperty'])}`;
      message = 'unknown setting';
      const allowed = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
      hint = allowed.length > 0 ? `remove it or use one of: ${allowed.join(', ')}` : 'remove it';
      break;
    }
    case 'required':
      pointer = `${pointer}/${String(params['missingProperty'])}`;
      message = 'is required';
      hint = 'add it';
      break;
    case 'pattern':
      if (error.schemaPath.includes('secret') || (error.parentSchema as { description?: string })?.description?.includes('reference')) {
        message = 'a literal secret is not allowed here';
        hint = 'use ${env:NAME} or ${file:/path/to/secret}';
      } else {
        message = `does not match the expected format ${String(params['pattern'])}`;
      }
      break;
    case 'enum':
      message = `must be one of: ${(params['allowedValues'] as unknown[]).map(String).join(', ')}`;
      break;
    case 'type':
      message = `must be ${String(params['type'])}`;
      break;
    default:
      break;
  }
  return { path: pointerToPath(pointer), message, hint, line: lineOf(pointer) } as ConfigIssue;
}

function pathToPointer(path: string): string {
  return '/' + path.replace(/\[(\d+)\]/g, '.$1').split('.').filter(Boolean).join('/');
}

function lineOfPointer(doc: Document, counter: LineCounter, pointer: string): number | undefined {
  const keys = pointer.split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  for (let n = keys.length; n >= 0; n--) {
    const node = doc.getIn(keys.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
