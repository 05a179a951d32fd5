import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { request } from 'node:http';

/** A server process started by the harness. */
export interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Last lines of stderr/stdout, for error messages when it dies. */
  tail(): string;
  stop(): Promise<void>;
}

function tailOf(file: string): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    const buffer = Buffer.alloc(Math.min(size, 2000));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    closeSync(fd);
    return buffer.toString('utf8');
  } catch {
    return '';
  }
}

/** A free loopback TCP port (bound then released; fine on a quiet loopback). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Spawns a server and waits until it answers HTTP on `port` (any status), for at most `timeoutMs`. Throws with the
 * process's last output when it exits or does not come up.
 */
export async function startServer(
  name: string,
  command: string,
  args: readonly string[],
  port: number,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; probePath?: string } = {},
): Promise<Server> {
  // Output goes to a file, not a pipe: reading a busy server's log through a pipe would cost the harness CPU on
  // the same cores as the server under test.
  const logFile = join(mkdtempSync(join(tmpdir(), 'rampart-bench-log-')), `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const server: Server = {
    name,
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    tail: () => tailOf(logFile),
    stop: () => stopChild(child).then(() => rmSync(dirname(logFile), { recursive: true, force: true })),
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${name} exited (code ${exited}) before listening:\n${server.tail()}`);
    if (await answers(port, options.probePath ?? '/')) return server;
    await sleep(100);
  }
  await server.stop();
  throw new Error(`${name} did not listen on ${port} within ${options.timeoutMs ?? 20_000} ms:\n${server.tail()}`);
}

function answers(port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** SIGTERM, then SIGKILL after 5 s. Resolves when the process has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ; 100 on every Linux this runs on). */
const CLK_TCK = 100;

/** The process and all its descendants (cluster workers, nginx workers), from /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < 1000) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function readStat(pid: number): { ppid: number; cpuSeconds: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK };
}

/** CPU seconds (user + system) used so far by a process tree. */
export function treeCpuSeconds(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) total += readStat(pid)?.cpuSeconds ?? 0;
  return total;
}

function statusField(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Peak resident set size (VmHWM) summed over a process tree, in bytes. */
export function treePeakRss(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusField(pid, 'VmHWM'), 0);
}

/** Current resident set size (VmRSS) summed over a process tree, in bytes. */
export function treeRss(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusField(pid, 'VmRSS'), 0);
}
