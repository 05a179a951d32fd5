/**
 * The audit writer thread's lifecycle under failure: a `rampart start` that fails after the audit trail opened
 * still exits (the writer thread and connections are closed, so a supervisor sees the failure and restarts), and
 * a write racing close() is refused instead of starting a worker nobody ends.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { openDb } from '../../src/audit/db.ts';
import { signingKeyFromPem } from '../../src/audit/signing.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { AuditWriterUnavailable, ThreadedAuditWriter } from '../../src/audit/writer.ts';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `rampart start -c <config>` and reports whether it exited within `waitMs` after printing its start-up error
 * (it is SIGKILLed otherwise, so nothing outlives the test).
 */
async function startFailing(audit: boolean, waitMs: number): Promise<{ stderr: string; exited: boolean; code: number | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-start-fails-'));
  // The control-plane store's directory is a regular file: openControlPlane fails (ENOTDIR on the key pepper),
  // which Gateway.start reaches only after Monitor.start opened the audit service and its writer thread. (The KEK
  // is configured, so it is not generated beside the store, which would fail before the audit trail opens.)
  writeFileSync(join(dir, 'blocker'), 'x');
  const configFile = join(dir, 'rampart.yaml');
  writeFileSync(
    configFile,
    stringify({
      listen: { http: { port: 0, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } },
      upstreams: { up: { url: 'http://127.0.0.1:9' } },
      apis: [{ name: 'a', passthrough: true, upstream: 'up', base_path: '/api' }],
      logging: { level: 'silent', access_log: false },
      store: { kind: 'sqlite', path: './blocker/rampart.db', encryption: { keks: [{ id: 'k1', key: '${env:T_KEK}' }], active: 'k1' } },
      monitor: { enabled: false },
      audit: { enabled: audit },
    }),
  );
  const child = spawn(process.execPath, [CLI, 'start', '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, T_KEK: 'ab'.repeat(32) } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // wait (bounded) for the start-up error, then give the process waitMs to end
    const deadline = Date.now() + 15_000;
    while (!stderr.includes('ENOTDIR') && child.exitCode === null && Date.now() < deadline) await sleep(50);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exit, new Promise<'running'>((resolve) => (timer = setTimeout(() => resolve('running'), waitMs)))]);
    clearTimeout(timer);
    return { stderr, exited: code !== 'running', code: code === 'running' ? null : code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  }
}

test('rampart start that fails after the audit trail opened exits 1, as it does with audit off', { timeout: 60_000 }, async () => {
  const withAudit = await startFailing(true, 10_000);
  assert.match(withAudit.stderr, /ENOTDIR/, 'start-up failed with the control-plane store error');
  assert.equal(withAudit.exited, true, 'the failed gateway exits: its audit writer thread was closed');
  assert.equal(withAudit.code, 1);

  const withoutAudit = await startFailing(false, 10_000);
  assert.equal(withoutAudit.exited, true, 'with audit disabled the same failure exits');
  assert.equal(withoutAudit.code, 1);
});

test('a write racing close() is refused: no worker is started after close, none outlives it', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-close-race-'));
  const options = { kind: 'sqlite' as const, path: join(dir, 'audit.db') };
  const db = await openDb(options);
  const store = new AuditStore(db, key, 10);
  await store.init();
  const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom, respawnAfterMs: 50 });
  try {
    await writer.terminate(); // the worker died (crash, OOM, …)
    await sleep(100); // back-off over: a write now would start a new worker
    const before = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const closing = writer.close();
    const late = writer.append([{ time: new Date(0).toISOString(), type: 'late', fields: { n: 1 } }]);
    await closing;
    await assert.rejects(late, AuditWriterUnavailable, 'the write issued after close() began is refused');
    await sleep(200);
    assert.ok(process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length <= before, 'no worker outlives close()');
    assert.equal((await store.tail(10)).length, 0, 'nothing was written after close');
    assert.equal((await verifyChain(store, key)).ok, true);
  } finally {
    await writer.terminate();
    await db.close();
  }
});

test('fields that cannot be cloned into the writer fail their batch only; the next batch commits', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-unclonable-'));
  const options = { kind: 'sqlite' as const, path: join(dir, 'audit.db') };
  const db = await openDb(options);
  const store = new AuditStore(db, key, 10);
  await store.init();
  const writer = await ThreadedAuditWriter.start({ db: options, key, checkpointEvery: 10, keyedFrom: store.keyedFrom });
  try {
    await assert.rejects(writer.append([{ time: new Date(0).toISOString(), type: 'bad', fields: { f: () => 1 } }]), /could not be cloned/);
    const appended = await writer.append([{ time: new Date(0).toISOString(), type: 'good', fields: { n: 1 } }]);
    assert.equal(appended?.seq, 1);
    assert.equal((await verifyChain(store, key)).ok, true);
  } finally {
    await writer.close();
    await db.close();
  }
});
