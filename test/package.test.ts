/**
 * The published package works: `npm pack` of a copy of this checkout (built with `tsc -p tsconfig.build.json`, as
 * `prepack` does), installed into an empty folder, runs `rampart --version`, `check` and `start` on Node 24 from its
 * own node_modules — no source checkout, no devDependencies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './helpers/ports.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_ENV = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

test('npm pack → install into an empty folder → --version, check and start work', { timeout: 240_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'rampart-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const copy = join(work, 'src-copy');
  mkdirSync(copy);
  for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src', 'schema', 'docs', 'README.md', 'LICENSE']) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  // The build needs the checkout's type definitions; npm pack never packs node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  await run(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: copy });
  await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: copy, env: NPM_ENV });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "version": "1.0.0", "private": true }\n');
  await run('npm', ['install', '--omit=dev', join(work, tarball)], { cwd: app, env: NPM_ENV, timeout: 180_000 });
  const bin = join(app, 'node_modules', '.bin', 'rampart');

  for (const shipped of ['LICENSE', 'schema/rampart.schema.json', 'dist/cli/main.js']) {
    assert.ok(existsSync(join(app, 'node_modules', 'rampart', shipped)), `the package ships ${shipped}`);
  }
  const version = await run(process.execPath, [bin, '--version'], { cwd: app });
  assert.match(version.stdout, /^rampart \d+\.\d+\.\d+/);

  const [http, admin] = [await freePort(), await freePort()];
  writeFileSync(
    join(app, 'rampart.yaml'),
    `listen:\n  http: { port: ${http}, host: 127.0.0.1, insecure: true }\n  admin: { port: ${admin}, host: 127.0.0.1 }\nupstreams:\n  up: { url: "http://127.0.0.1:9" }\napis:\n  - { name: pass, passthrough: true, upstream: up }\n`,
  );
  const check = await run(process.execPath, [bin, 'check', '-c', 'rampart.yaml'], { cwd: app });
  assert.match(check.stdout, /config OK: \d+ routes/);

  const gateway = spawn(process.execPath, [bin, 'start', '-c', 'rampart.yaml'], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  gateway.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', resolve));
  try {
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      ready = await fetch(`http://127.0.0.1:${admin}/readyz`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ready, `the packed gateway became ready: ${stderr}`);
    // Nothing listens on the upstream port: the gateway answers, as a gateway should, with a 503 problem (upstream_unavailable).
    const res = await fetch(`http://127.0.0.1:${http}/anything`);
    assert.equal(res.status, 503);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
  } finally {
    gateway.kill('SIGTERM');
  }
  assert.equal(await exited, 0, `graceful stop: ${stderr}`);
});
