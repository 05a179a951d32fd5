/**
 * CPU budget per parser: runs each parser Rampart applies to client input on worst-case inputs of the largest size
 * the defaults allow, and prints its cost as a ratio to `JSON.parse` (so the numbers hold across machines): of the
 * same bytes for JSON inputs, of as many bytes of ordinary JSON for the others (paths, queries, config, CEL). Exits 1 when a ratio exceeds the budget recorded below: a parser that became
 * super-linear, or much slower, fails here rather than in production. Not a test: it measures time.
 *
 * Usage: node bench/parser-budget.ts [--iterations N] [--filter REGEX]
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { loadConfigText } from '../src/config/load.ts';
import { paramSpec, parseCookies, parseQuery } from '../src/openapi/params.ts';
import type { ParameterObject } from '../src/openapi/load.ts';
import { parseApiKey } from '../src/policies/authn-apikey/format.ts';
import { compileRule } from '../src/policies/authz/cel.ts';
import { parseTarget } from '../src/http/normalise.ts';
import { parseJsonSafely } from '../src/policies/validate/json.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20' }, filter: { type: 'string' } } });
const ITERATIONS = Math.max(3, Number(values.iterations));
const KIB = 1024;
/** Default `limits.max_body_bytes`. */
const BODY = 1024 * KIB;
/** A request target as long as a typical `max_url_bytes` allows (8 KiB). */
const URL_BYTES = 8 * KIB;

/** The defaults of `apis[].validation`: what a body may cost before a cap refuses it. */
const JSON_LIMITS = { maxDepth: 32, maxObjectKeys: 1000, maxTokens: 100_000, rejectDuplicates: true, pointerBase: 'body' };
/** With the caps lifted: the scan's own cost on the largest body (the caps are what keep defaults cheaper). */
const JSON_UNCAPPED = { ...JSON_LIMITS, maxObjectKeys: 1_000_000, maxTokens: 100_000_000 };

function fill(bytes: number, unit: (i: number) => string, open: string, close: string): string {
  const parts: string[] = [];
  let length = open.length + close.length;
  for (let i = 0; length < bytes; i++) {
    const part = unit(i);
    parts.push(part);
    length += part.length + 1;
  }
  return `${open}${parts.join(',')}${close}`;
}

interface Case {
  readonly name: string;
  /** What the parser runs on. */
  readonly input: string;
  /** Whether `input` is JSON: the denominator is then JSON.parse of `input` itself. */
  readonly json?: boolean;
  readonly run: (input: string) => unknown;
  /** Largest allowed ratio to JSON.parse of the same bytes. */
  readonly budget: number;
}

/** A JSON text of `bytes` that JSON.parse reads at its typical speed (a mix of keys, numbers and strings). */
const baselineOf = (bytes: number) => fill(bytes, (i) => `{"id":${i},"name":"item-${i}","tags":["a","b"]}`, '[', ']');

const manyKeys = fill(BODY, (i) => `"${i.toString(36)}":0`, '{', '}');
const dense = fill(BODY, () => '0', '[', ']');
const nested = fill(BODY, () => '[[[[[[[[1]]]]]]]]', '[', ']');
const longStrings = JSON.stringify(Array.from({ length: 16 }, () => 'x'.repeat(BODY / 16 - 4)));
const smallObjects = fill(BODY, (i) => `{"a":{"b":${i}}}`, '[', ']');
const lastDuplicate = `${manyKeys.slice(0, -1)},"0":1}`;
// A ':' inside a string defeats the colon count, so these force the full duplicate-key scan (the worst case).
const manyKeysScanned = `${manyKeys.slice(0, -1)},"~":":"}`;
const nestedScanned = `{"s":":","v":${nested}}`;

const querySpecs = ['a', 'b', 'c'].map((name) => paramSpec({ name, in: 'query', schema: { type: 'string' } } as ParameterObject));
const deepSpec = paramSpec({ name: 'f', in: 'query', style: 'deepObject', explode: true, schema: { type: 'object' } } as ParameterObject);
const queryMany = Array.from({ length: URL_BYTES / 8 }, (_, i) => `k${i.toString(36)}=1`).join('&').slice(0, URL_BYTES);
const queryDeep = Array.from({ length: URL_BYTES / 10 }, (_, i) => `f%5B${i.toString(36)}%5D=1`).join('&').slice(0, URL_BYTES);
const path = `/${'a/'.repeat(URL_BYTES / 2 - 1)}`;
const pathEscapes = `/${'%C3%A9'.repeat((URL_BYTES - 1) / 6)}`;
const cookie = Array.from({ length: URL_BYTES / 8 }, (_, i) => `c${i}=v`).join('; ');
const configBase = {
  listen: { http: { port: 0, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } },
  upstreams: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`u${i}`, { url: `http://127.0.0.1:${9000 + i}` }])),
  apis: Array.from({ length: 200 }, (_, i) => ({ name: `a${i}`, upstream: `u${i}`, passthrough: true, base_path: `/a${i}` })),
};
const configText = stringify(configBase);
const celSource = Array.from({ length: 60 }, (_, i) => `request.body.f${i} == identity.subject`).join(' || ');

const json = (limits: typeof JSON_LIMITS) => (text: string) => {
  const result = parseJsonSafely(text, limits);
  return result.ok;
};

const CASES: Case[] = [
  { name: 'json: 1 MiB object, ~110 000 keys (default caps refuse)', input: manyKeys, run: json(JSON_LIMITS), json: true, budget: 4 },
  { name: 'json: 1 MiB object, ~110 000 keys (caps lifted)', input: manyKeys, run: json(JSON_UNCAPPED), json: true, budget: 8 },
  { name: 'json: 1 MiB object, ~110 000 keys, full scan forced (caps lifted)', input: manyKeysScanned, run: json(JSON_UNCAPPED), json: true, budget: 8 },
  { name: 'json: 1 MiB object, duplicate is the last key (caps lifted)', input: lastDuplicate, run: json(JSON_UNCAPPED), json: true, budget: 8 },
  { name: 'json: 1 MiB of [0,0,…] (default caps refuse)', input: dense, run: json(JSON_LIMITS), json: true, budget: 3 },
  { name: 'json: 1 MiB nested arrays, depth 9 (caps lifted)', input: nested, run: json(JSON_UNCAPPED), json: true, budget: 8 },
  { name: 'json: 1 MiB nested arrays, full scan forced (caps lifted)', input: nestedScanned, run: json(JSON_UNCAPPED), json: true, budget: 8 },
  { name: 'json: 1 MiB of long strings', input: longStrings, run: json(JSON_LIMITS), json: true, budget: 25 },
  { name: 'json: 1 MiB of small objects (caps lifted)', input: smallObjects, run: json(JSON_UNCAPPED), json: true, budget: 12 },
  { name: 'query: 8 KiB of distinct undeclared keys', input: queryMany, run: (q) => parseQuery(querySpecs, new URLSearchParams(q)), budget: 15 },
  { name: 'query: 8 KiB of deepObject keys', input: queryDeep, run: (q) => parseQuery([deepSpec], new URLSearchParams(q)), budget: 40 },
  { name: 'path: 8 KiB of segments', input: path, run: (p) => parseTarget(p, URL_BYTES), budget: 20 },
  { name: 'path: 8 KiB of percent escapes', input: pathEscapes, run: (p) => parseTarget(p, URL_BYTES), budget: 20 },
  { name: 'cookie: 8 KiB header', input: cookie, run: parseCookies, budget: 20 },
  { name: 'api key: 8 KiB header value', input: 'r'.repeat(URL_BYTES), run: parseApiKey, budget: 2 },
  { name: 'config: 200 APIs and upstreams', input: configText, run: (t) => loadConfigText(t, '/tmp/rampart-budget.yaml', {}), budget: 400 },
  { name: 'cel: compile a rule of 60 comparisons', input: celSource, run: (s) => compileRule(s, 'budget', 'request'), budget: 400 },
];

/** Median wall time (ns) of `run(input)` over ITERATIONS runs, after a warm-up. */
function median(run: (input: string) => unknown, input: string): number {
  for (let i = 0; i < 3; i++) run(input);
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const start = process.hrtime.bigint();
    run(input);
    samples.push(Number(process.hrtime.bigint() - start));
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]!;
}

const filter = values.filter ? new RegExp(values.filter) : undefined;
const baselines = new Map<number, number>();
let over = 0;
const rows: string[] = ['| parser and input | bytes | time | JSON.parse | ratio | budget |', '|---|---:|---:|---:|---:|---:|'];
for (const c of CASES) {
  if (filter && !filter.test(c.name)) continue;
  const bytes = c.input.length;
  let base = c.json ? median((t) => JSON.parse(t), c.input) : baselines.get(bytes);
  if (base === undefined) {
    const text = baselineOf(bytes);
    base = median((t) => JSON.parse(t), text);
    baselines.set(bytes, base);
  }
  const time = median(c.run, c.input);
  const ratio = time / base;
  const ok = ratio <= c.budget;
  if (!ok) over++;
  rows.push(`| ${c.name} | ${bytes} | ${(time / 1e6).toFixed(2)} ms | ${(base / 1e6).toFixed(2)} ms | ${ratio.toFixed(2)}${ok ? '' : ' **over**'} | ${c.budget} |`);
}
process.stdout.write(`${rows.join('\n')}\n`);
if (over > 0) {
  process.stderr.write(`${over} parser(s) over their CPU budget\n`);
  process.exit(1);
}
