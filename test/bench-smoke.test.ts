import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Smoke test of the benchmark harness: it runs end to end in --quick mode and produces its table. No timing or
// throughput assertions: numbers depend on the machine and on what else runs.
test('npm run bench -- --quick runs and prints the comparison table', { timeout: 150_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-smoke-'));
  const jsonFile = join(dir, 'results.json');
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bench/run.ts', '--quick', '--json', jsonFile],
        { cwd: join(import.meta.dirname, '..'), timeout: 140_000, maxBuffer: 4 << 20 },
        (error, out, err) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out, stderr: err }),
      );
    });
    assert.equal(code, 0, `harness failed:\n${stderr.slice(-3000)}`);
    assert.match(stdout, /\| configuration \| req\/s \(mean ± sd\) \| p50 ms \| p99 ms \| p99\.9 ms \| CPU s \/ 1k req \| peak RSS MiB \|/);
    for (const name of ['node-floor', 'rampart-passthrough', 'rampart-full']) assert.match(stdout, new RegExp(`^\\| ${name} \\|`, 'm'));
    assert.match(stdout, /Targets/);
    const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as { rows: { name: string; runs: number; rps: number }[]; machine: Record<string, string> };
    assert.deepEqual(results.rows.map((r) => r.name), ['node-floor', 'rampart-passthrough', 'rampart-full']);
    for (const row of results.rows) {
      assert.equal(row.runs, 2, `${row.name}: two alternating runs`);
      assert.ok(row.rps > 0, `${row.name} served requests`);
    }
    assert.ok(results.machine['nproc'] && results.machine['cpu']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
