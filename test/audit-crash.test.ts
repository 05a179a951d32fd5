/**
 * "Nothing acknowledged to a client as done is lost on kill -9": a real gateway child process under concurrent
 * load is killed with SIGKILL; every request whose response the client received completely must have its audit
 * record in the (SQLite, synchronous=FULL) audit trail, the chain must verify, and a restarted gateway extends it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { stringify } from 'yaml';
import { openDb } from '../src/audit/db.ts';
import { AuditStore } from '../src/audit/store.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { signingKeyFromPem } from '../src/audit/signing.ts';
import { readHeadFile } from '../src/audit/head.ts';
import { readFileSync } from 'node:fs';
import { startUpstream } from './helpers/upstream.ts';

const CHILD = new URL('./helpers/crash-gateway.ts', import.meta.url).pathname;

function startChild(configFile: string): Promise<{ kill: () => Promise<void>; port: number }> {
  const child = spawn(process.execPath, [CHILD, configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child gateway did not start in 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const addresses = JSON.parse(line) as { http: number };
      resolve({
        port: addresses.http,
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

test('kill -9 under load loses no audit record of a completed request', { timeout: 90_000 }, async (t) => {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const dir = mkdtempSync(join(tmpdir(), 'rampart-crash-'));
  const configFile = join(dir, 'rampart.yaml');
  writeFileSync(
    configFile,
    stringify({
      listen: { http: { port: 0, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } },
      upstreams: { up: { url: upstream.url } },
      apis: [{ name: 'crash', passthrough: true, upstream: 'up', base_path: '/api' }],
      logging: { level: 'silent', access_log: false },
      // every allowed passthrough request is a sensitive operation: each one is audited, like every deny
      audit: { sensitive_operations: ['crash:passthrough'], checkpoint_every: 100 },
      monitor: { enabled: false },
    }),
  );
  const child = await startChild(configFile);
  t.after(() => child.kill());
  const completed: string[] = [];
  let stop = false;
  let n = 0;
  const client = async (worker: number) => {
    for (let i = 0; i < 5000 && !stop; i++) {
      const id = `crash-${worker}-${i}-${n++}`;
      // half allowed (sensitive op), half denied (unknown path → 404, always audited)
      const path = i % 2 === 0 ? `/api/items/${i}` : `/nope/${i}`;
      try {
        const res = await request(`http://127.0.0.1:${child.port}${path}`, { headers: { 'x-request-id': id }, headersTimeout: 5000, bodyTimeout: 5000 });
        await res.body.text();
        completed.push(id);
      } catch {
        // cut by the kill: never acknowledged
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => client(w));
  const deadline = Date.now() + 10_000;
  while (completed.length < 400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await child.kill();
  stop = true;
  await Promise.all(workers);
  assert.ok(completed.length >= 100, `load ran (${completed.length} completed)`);

  const db = await openDb({ kind: 'sqlite', path: join(dir, 'data', 'audit.db') });
  const store = new AuditStore(db, undefined);
  const seen = new Set<string>();
  for (let after = 0; ; ) {
    const page = await store.page(after, 1000);
    if (page.length === 0) break;
    for (const r of page) seen.add(String(r.fields['requestId']));
    after = page.at(-1)!.seq;
  }
  const missing = completed.filter((id) => !seen.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${completed.length} completed requests lost their audit record`);
  const key = signingKeyFromPem(readFileSync(join(dir, 'data', 'audit-signing.key'), 'utf8'));
  // The head the killed process published last never names a record the database lost.
  const head = readHeadFile(join(dir, 'data', 'audit-head.json'));
  assert.ok(head, 'a signed head was published under load');
  const verified = await verifyChain(store, key, { heads: [head] });
  assert.equal(verified.ok, true, JSON.stringify(verified));
  assert.equal(verified.macs, verified.records, 'every record is keyed');
  await db.close();

  // restart on the same trail: it keeps extending the chain
  const again = await startChild(configFile);
  t.after(() => again.kill());
  const res = await request(`http://127.0.0.1:${again.port}/nope/after-restart`, { headers: { 'x-request-id': 'after-restart' } });
  await res.body.text();
  assert.equal(res.statusCode, 404);
  await again.kill();
  const db2 = await openDb({ kind: 'sqlite', path: join(dir, 'data', 'audit.db') });
  const store2 = new AuditStore(db2, undefined);
  assert.equal((await store2.search({ text: 'after-restart' })).length, 1);
  assert.equal((await verifyChain(store2, key, { heads: [head, readHeadFile(join(dir, 'data', 'audit-head.json'))!] })).ok, true);
  await db2.close();
});
