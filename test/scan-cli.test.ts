/**
 * `rampart scan` as a process: help, usage errors (exit 2 naming the flag), a dry run that sends nothing, and
 * SARIF reports that validate against the SARIF 2.1.0 schema, with exit 1 only when a finding reaches --fail-on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';
import { startDemoApi, type DemoApi } from '../demo/api/server.ts';
import { startIdp, type Idp } from '../demo/idp/server.ts';
import { startProtectedApi, type ProtectedApi } from './helpers/protected-api.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src/cli/main.ts');
const DEMO_SPEC = 'demo/openapi.yaml';
const PROTECTED_SPEC = 'test/fixtures/protected-openapi.yaml';
const addFormats = addFormatsModule as unknown as FormatsPlugin;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validateSarif = ajv.compile(JSON.parse(readFileSync(join(ROOT, 'src/scan/sarif-schema-2.1.0.json'), 'utf8')) as object);

function rampart(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-cli-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const staticIdentity = (name: string, role: string, token: string) => write(`${name}.yaml`, `name: ${name}\nrole: ${role}\ncredential:\n  bearer: ${token}\n`);

describe('usage', () => {
  test('--help prints the scan help to stdout and exits 0', async () => {
    for (const args of [['scan', '--help'], ['scan', '-h'], ['scan', '--spec', 'missing.yaml', '--help']]) {
      const r = await rampart(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: rampart scan/);
      assert.match(r.stdout, /--fail-on/);
      assert.equal(r.stderr, '');
    }
    assert.match((await rampart(['--help'])).stdout, /\n {2}scan /);
  });

  test('usage and configuration errors exit 2 and name the flag or file', async () => {
    const a = staticIdentity('u1', 'user', 'x.y.z');
    const b = staticIdentity('u2', 'user', 'x.y.z');
    const bad = write('bad.yaml', 'name: bad\ncredential: {}\n');
    const typo = write('typo.yaml', 'name: typo\ncredentials:\n  bearer: abc\n');
    const cases: [string[], RegExp][] = [
      [['scan', '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b], /--spec is required/],
      [['scan', '--spec', DEMO_SPEC, '--identity', a, '--identity', b], /--target is required/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'ftp://x', '--identity', a, '--identity', b], /--target must be an http/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b, '--fail-on', 'severe'], /--fail-on must be one of/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b, '--profile', 'yolo'], /--profile must be safe or full/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b, '--rps', '0'], /--rps must be a positive number/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b, '--nope'], /--nope/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a], /--identity: at least two identities/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'https://api.example.com', '--identity', a, '--identity', b, '--insecure-tls'], /--insecure-tls is for an https:\/\/ loopback target/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', bad], /bad\.yaml: credential must NOT have fewer than 1 properties/],
      [['scan', '--spec', DEMO_SPEC, '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', typo], /typo\.yaml: .*credential/],
      [['scan', '--spec', 'nope.yaml', '--target', 'http://127.0.0.1:1', '--identity', a, '--identity', b], /nope\.yaml/],
    ];
    for (const [args, message] of cases) {
      const r = await rampart(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('--dry-run lists the planned probes, exits 0 and sends nothing (the target port is closed; without --dry-run that is exit 2)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const a = staticIdentity('d1', 'user', 'x.y.z');
    const b = staticIdentity('d2', 'admin', 'x.y.z');
    const r = await rampart(['scan', '--spec', DEMO_SPEC, '--target', `http://127.0.0.1:${port}`, '--identity', a, '--identity', b, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing sent/);
    for (const rule of ['discovery', 'api1.bola-read', 'api2.alg-none', 'api3.mass-assignment', 'api5.admin-operation', 'api8.path-traversal', 'api10.sql-injection', 'api10.command-injection', 'api10.template-injection', 'api4.huge-body', 'api4.no-rate-limit']) assert.match(r.stdout, new RegExp(`^  ${rule.replace('.', '\\.')} `, 'm'), rule);
    assert.doesNotMatch(r.stdout, /DELETE \/admin/, 'the safe profile plans no DELETE');
    const unreachable = await rampart(['scan', '--spec', DEMO_SPEC, '--target', `http://127.0.0.1:${port}`, '--identity', a, '--identity', b]);
    assert.equal(unreachable.code, 2, 'a scan that could not reach its target does not pass');
    assert.match(unreachable.stderr, /the scan did not complete: discovery: .*ECONNREFUSED|the scan did not complete: discovery: /);
    const full = await rampart(['scan', '--spec', DEMO_SPEC, '--target', `http://127.0.0.1:${port}`, '--identity', a, '--identity', b, '--dry-run', '--profile', 'full']);
    assert.match(full.stdout, /api5\.admin-operation\s+DELETE \/admin\/users\/\{userId\} as d1: .*\[destructive\]/);
    assert.doesNotMatch(r.stdout, /api6\.unthrottled-flow/, 'the safe profile does not repeat a POST flow');
    assert.match(full.stdout, /api6\.unthrottled-flow\s+POST \/orders as d1: flow "checkout" \(5\/min\) repeated 10 times.*\[destructive\]/);
  });
});

describe('reports and exit codes', () => {
  let demo: DemoApi;
  let idp: Idp;
  let protectedApi: ProtectedApi;
  before(async () => {
    [demo, idp, protectedApi] = await Promise.all([startDemoApi(), startIdp(), startProtectedApi()]);
  });
  after(async () => {
    await Promise.all([demo?.close(), idp?.close(), protectedApi?.close()]);
  });

  test('the naked demo API: SARIF that validates, levels from severities, locations at the operation; exit 1 at --fail-on high', async () => {
    const alice = staticIdentity('alice', 'user', await idp.issueToken({ sub: 'u-alice', tenant: 'acme', roles: ['user'], scope: 'orders:read orders:write profile' }));
    const carol = staticIdentity('carol', 'user', await idp.issueToken({ sub: 'u-carol', tenant: 'globex', roles: ['user'], scope: 'orders:read orders:write profile' }));
    const out = join(dir, 'demo.sarif');
    const r = await rampart(['scan', '--spec', DEMO_SPEC, '--target', demo.url, '--identity', alice, '--identity', carol, '--format', 'sarif', '--out', out, '--fail-on', 'high', '--rps', '200']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /finding\(s\), report written to/);
    const sarif = JSON.parse(readFileSync(out, 'utf8')) as { runs: { tool: { driver: { rules: { id: string; help: { text: string } }[] } }; results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[] };
    assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors?.slice(0, 3)));
    const [run] = sarif.runs;
    assert.ok(run && run.results.length > 10);
    const specLines = readFileSync(join(ROOT, DEMO_SPEC), 'utf8').split('\n');
    const sqli = run.results.find((x) => x.ruleId === 'api10.sql-injection');
    assert.equal(sqli?.level, 'error');
    assert.equal(sqli?.locations[0]?.physicalLocation.artifactLocation.uri, DEMO_SPEC);
    assert.match(specLines[(sqli?.locations[0]?.physicalLocation.region.startLine ?? 0) - 1] ?? '', /operationId: searchProducts/);
    for (const result of run.results) assert.equal(run.tool.driver.rules[result.ruleIndex]?.id, result.ruleId);
    assert.ok(run.results.some((x) => x.level === 'warning') && run.results.some((x) => x.level === 'note'));
    assert.match(run.tool.driver.rules.find((x) => x.id === 'api1.bola-read')?.help.text ?? '', /Fix: .*owner_rules/);
  });

  test('the protected API: exit 0 at --fail-on medium, an empty but valid SARIF log; JSON and text formats', async () => {
    const ann = staticIdentity('ann', 'user', await protectedApi.token('ann'));
    const root = staticIdentity('root', 'admin', await protectedApi.token('root'));
    const out = join(dir, 'protected.sarif');
    const r = await rampart(['scan', '--spec', PROTECTED_SPEC, '--target', protectedApi.url, '--identity', ann, '--identity', root, '--format', 'sarif', '--out', out, '--rps', '200']);
    assert.equal(r.code, 0, r.stderr);
    const sarif = JSON.parse(readFileSync(out, 'utf8')) as { runs: { results: unknown[] }[] };
    assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors?.slice(0, 3)));
    assert.deepEqual(sarif.runs[0]?.results, []);
    const json = await rampart(['scan', '--spec', PROTECTED_SPEC, '--target', protectedApi.url, '--identity', ann, '--identity', root, '--format', 'json', '--rps', '200', '--fail-on', 'info']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { findings: unknown[]; requestsSent: number };
    assert.deepEqual(parsed.findings, []);
    assert.ok(parsed.requestsSent > 50);
    const text = await rampart(['scan', '--spec', PROTECTED_SPEC, '--target', protectedApi.url, '--identity', ann, '--identity', root, '--rps', '200', '--max-requests', '20']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /0 finding\(s\): 0 critical, 0 high, 0 medium, 0 low, 0 info; 20 requests sent/);
    assert.match(text.stdout, /Stopped early: request budget of 20 used up/);
  });
});
