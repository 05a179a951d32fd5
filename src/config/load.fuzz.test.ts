/**
 * Property tests of config loading (fast-check, bounded runs): whatever the text, loadConfigText returns a config
 * or throws ConfigError (never another error, never a hang on alias bombs), and an error never carries the value
 * of a secret reference.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError } from './errors.ts';
import { loadConfigText } from './load.ts';

const FILE = join(tmpdir(), 'rampart-fuzz.yaml');
const SECRET = 'fuzz-secret-value-0123456789abcdef';
const ENV = { FUZZ_SECRET: SECRET, FUZZ_ADMIN: 'a'.repeat(40) };
const BASE = {
  listen: { http: { port: 0, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } },
  upstreams: { main: { url: 'http://127.0.0.1:9' } },
  apis: [{ name: 'a', upstream: 'main', passthrough: true }],
};

/** Loads, asserting that only ConfigError escapes and that it never shows the secret. */
function load(text: string): void {
  try {
    loadConfigText(text, FILE, ENV);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `only ConfigError escapes, got ${(error as Error)?.name}: ${String((error as Error)?.message).slice(0, 200)}`);
    assert.ok(!error.message.includes(SECRET), 'the error does not show the secret');
  }
}

/** A path into BASE and a value to put there (replacing, or adding an unknown key). */
const mutation = fc.tuple(
  fc.constantFrom(['listen', 'http', 'port'], ['listen', 'admin'], ['upstreams', 'main', 'url'], ['upstreams', 'main'], ['apis', 0, 'name'], ['apis', 0], ['apis', 0, 'validation'], ['logging'], ['unknown_key']),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('${env:FUZZ_SECRET}', '${env:MISSING}', '${file:/nonexistent}', '${env:', '${file:../../etc/passwd}', SECRET)),
);

function mutate(paths: [readonly (string | number)[], unknown][]): string {
  const config = structuredClone(BASE) as Record<string, unknown>;
  for (const [path, value] of paths) {
    let node = config as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) {
      if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
      node = node[key] as Record<string | number, unknown>;
    }
    node[path.at(-1)!] = value;
  }
  return stringify(config);
}

describe('loadConfigText (properties)', () => {
  it('accepts the base config (the control)', () => {
    assert.equal(loadConfigText(stringify(BASE), FILE, ENV).config.apis[0]?.name, 'a');
  });

  it('throws nothing but ConfigError on arbitrary text', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('{', '}', '[', ']', ':', ' ', '\n', '-', '&a', '*a', '!!', '"', "'", '#', 'x', '?') })), load), { numRuns: 300 });
  });

  it('throws nothing but ConfigError, never with the secret, on mutated configs', () => {
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (paths) => load(mutate(paths))), { numRuns: 300 });
  });

  it('refuses alias bombs with ConfigError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 9 }), fc.integer({ min: 2, max: 12 }), (width, levels) => {
        const lines = ['a0: &a0 [x]'];
        for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: width }, () => `*a${i - 1}`).join(', ')}]`);
        load(lines.join('\n'));
      }),
      { numRuns: 50 },
    );
  });
});
