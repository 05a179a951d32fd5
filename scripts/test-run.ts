/**
 * The test part of `npm test`: runs `node --test` with TMPDIR set to a fresh temp root, so every store the tests
 * create (SQLite files under `os.tmpdir()`) lands there, then — when the tests pass — scans every store they left
 * behind and a `pg_dump` of the test database for secrets and personal data in clear (scripts/store-scan.ts, issue 16).
 * Exits with the tests' code, or 1 when the scan finds anything; the temp root is removed when everything passed and
 * kept (its path printed) otherwise.
 *
 * Usage: node scripts/test-run.ts [node --test options, as --name=value] [files or globs]  (no files: the whole
 * suite), e.g. `npm test -- test/encryption-at-rest.test.ts`.
 * PostgreSQL: RAMPART_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test, as the tests use.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SUITE_SECRETS } from '../test/helpers/suite-secrets.ts';
import { formatReport, newReport, pgDump, scanPgDump, scanStores, TEST_PG_URL } from './store-scan.ts';

const FLAGS = ['--test', '--test-concurrency=3', '--test-timeout=180000'];
const SUITE = ['src/**/*.test.ts', 'test/**/*.test.ts'];

const args = process.argv.slice(2);
const files = args.some((a) => !a.startsWith('-')) ? [] : SUITE;
const root = mkdtempSync(join(tmpdir(), 'rampart-suite-'));

const child = spawn(process.execPath, [...FLAGS, ...args, ...files], { stdio: 'inherit', env: { ...process.env, TMPDIR: root } });
// Ctrl-C reaches the tests too; wait for them so the stores are kept and their place printed.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const code = await new Promise<number>((resolve) => child.on('close', (status, signal) => resolve(status ?? (signal ? 1 : 0))));

function keep(why: string, exit: number): never {
  console.error(`${why}; the tests' temp root (every store they left) is kept: ${root}`);
  process.exit(exit);
}

if (code !== 0) keep(`tests failed (exit ${code})`, code);
const report = newReport();
try {
  scanStores([root], SUITE_SECRETS, report);
  scanPgDump(pgDump(TEST_PG_URL), SUITE_SECRETS, `pg_dump ${new URL(TEST_PG_URL).pathname.slice(1)}`, report);
} catch (error) {
  console.error(formatReport(report));
  keep(`store scan failed: ${(error as Error).message}`, 1);
}
console.log(formatReport(report));
if (report.findings.length) keep('store scan: secrets or personal data in clear (above)', 1);
rmSync(root, { recursive: true, force: true });
