import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, sleep } from '../bench/lib/proc.ts';
import { startUpstream } from './helpers/upstream.ts';
import { GATEWAY_NODE_FLAGS } from '../src/cli/node-flags.ts';

const MAIN = join(import.meta.dirname, '../src/cli/main.ts');

/** A passthrough gateway on `port` in front of `upstreamUrl`, written to `file`. */
function writePassthroughConfig(file: string, port: number, upstreamUrl: string): void {
  writeFileSync(
    file,
    stringify({
      listen: { http: { port, host: '127.0.0.1', insecure: true }, admin: { port: 0, host: '127.0.0.1' } },
      upstreams: { u: { url: upstreamUrl } },
      apis: [{ name: 'a', upstream: 'u', passthrough: true }],
      logging: { level: 'warn' },
    }),
  );
}

const cmdlineOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out.sort();
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null | 'timeout'> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

test('rampart start --workers 2: two workers share the listener, SIGHUP reloads them, SIGTERM drains and exits 0', { timeout: 60_000 }, async () => {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'rampart-workers-'));
  const port = await freePort();
  const file = join(dir, 'rampart.yaml');
  writePassthroughConfig(file, port, upstream.url);
  const child = spawn(process.execPath, [MAIN, 'start', '-c', file, '--workers', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  try {
    const url = `http://127.0.0.1:${port}/things/1`;
    for (let i = 0; i < 400 && !/2 workers ready/.test(stderr); i++) await sleep(100);
    assert.match(stderr, /2 workers ready/);
    const workers = childrenOf(child.pid!);
    assert.equal(workers.length, 2, 'the primary forked two workers');
    for (const pid of [child.pid!, ...workers]) assert.ok(cmdlineOf(pid).includes(GATEWAY_NODE_FLAGS[0]!), `${pid} runs with the gateway's V8 flags`);
    for (let i = 0; i < 6; i++) assert.equal(await status(url), 200);

    child.kill('SIGHUP');
    await sleep(500);
    assert.deepEqual(childrenOf(child.pid!), workers, 'SIGHUP reloads; it does not kill or replace workers');
    assert.equal(await status(url), 200);

    child.kill('SIGTERM');
    assert.equal(await exited(child, 15_000), 0);
    assert.deepEqual(childrenOf(child.pid!), []);
    assert.equal(await status(url), 0, 'nothing listens any more');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rampart start --workers rejects a bad value and a bad config with exit code 2', { timeout: 30_000 }, async () => {
  const bad = spawn(process.execPath, [MAIN, 'start', '-c', 'nowhere.yaml', '--workers', '0'], { stdio: 'ignore' });
  assert.equal(await exited(bad, 10_000), 2);
  const dir = mkdtempSync(join(tmpdir(), 'rampart-workers-'));
  writeFileSync(join(dir, 'rampart.yaml'), 'listen: {}\nupstreams: {}\napis: []\n');
  const invalid = spawn(process.execPath, [MAIN, 'start', '-c', join(dir, 'rampart.yaml'), '--workers', '2'], { stdio: 'ignore' });
  assert.equal(await exited(invalid, 10_000), 2);
  rmSync(dir, { recursive: true, force: true });
});

test('rampart start re-executes itself in place with the gateway V8 flags; an operator’s own setting wins', { timeout: 60_000 }, async () => {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'rampart-flags-'));
  try {
    for (const [env, expectOurs] of [[{}, true], [{ NODE_OPTIONS: '--max-semi-space-size=32' }, false], [{ RAMPART_NODE_FLAGS: 'off' }, false]] as const) {
      const port = await freePort();
      const file = join(dir, `rampart-${port}.yaml`);
      writePassthroughConfig(file, port, upstream.url);
      const child = spawn(process.execPath, [MAIN, 'start', '-c', file], { stdio: 'ignore', env: { ...process.env, ...env } });
      try {
        const url = `http://127.0.0.1:${port}/things/1`;
        let answered = 0;
        for (let i = 0; i < 300 && answered !== 200; i++) {
          answered = await status(url);
          if (answered !== 200) await sleep(100);
        }
        assert.equal(answered, 200, 'the re-executed gateway serves');
        const cmdline = cmdlineOf(child.pid!);
        assert.equal(cmdline.includes(GATEWAY_NODE_FLAGS[0]!), expectOurs, `${JSON.stringify(env)}: ${cmdline.join(' ')}`);
        assert.ok(cmdline.includes('start') && cmdline.includes(file), 'the same arguments, in the same process');
        child.kill('SIGTERM');
        assert.equal(await exited(child, 15_000), 0, 'the spawner still sees its child exit 0');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
