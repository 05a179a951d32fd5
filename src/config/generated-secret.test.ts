/**
 * Generated secret files under a start-up race: processes creating the same file at once (gateway workers, two
 * instances on one data directory) all get the same complete value; none fails or reads a partial file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOrCreateSecretFile } from './generated-secret.ts';

const MODULE = new URL('./generated-secret.ts', import.meta.url).href;

function race(path: string): Promise<{ code: number | null; out: string; err: string }> {
  // Each child makes a large value slowly (many writes would show a torn read), then prints what it got.
  const script = `import { readOrCreateSecretFile } from ${JSON.stringify(MODULE)};
const { value } = readOrCreateSecretFile(${JSON.stringify(path)}, () => 'k'.repeat(1 << 20) + process.pid);
process.stdout.write(value.slice(-12) + ':' + value.length);`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

test('eight processes creating one secret file at once all read the same complete value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-secret-'));
  const path = join(dir, 'data', 'audit-ip.key');
  const results = await Promise.all(Array.from({ length: 8 }, () => race(path)));
  for (const r of results) assert.equal(r.code, 0, r.err);
  assert.equal(new Set(results.map((r) => r.out)).size, 1, `every process got the same value: ${results.map((r) => r.out).join(' ')}`);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, 'data')), ['audit-ip.key'], 'no temp file left behind');
});

test('an existing file is read, not replaced', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'rampart-secret-')), 'key');
  assert.deepEqual(readOrCreateSecretFile(path, () => 'first'), { value: 'first', created: true });
  assert.deepEqual(readOrCreateSecretFile(path, () => 'second'), { value: 'first', created: false });
});
