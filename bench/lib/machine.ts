import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** A one-line description of the machine: CPUs, model, memory, kernel, Node, nginx and load tool versions. */
export function describeMachine(extra: Record<string, string | undefined> = {}): Record<string, string> {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    kernel = 'unknown';
  }
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // keep os.cpus()
  }
  const out: Record<string, string> = {
    nproc,
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel,
    node: process.version,
  };
  for (const [k, v] of Object.entries(extra)) if (v) out[k] = v;
  return out;
}

/** `nginx -v` / `wrk --version` first line (either stream, any exit code), or undefined. */
export function toolVersion(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return undefined;
  return `${r.stdout}${r.stderr}`.split('\n')[0]?.trim() || undefined;
}
