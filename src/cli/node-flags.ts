import cluster from 'node:cluster';

/**
 * V8 flags `rampart start` runs the gateway with. A young generation of 2 × 8 MiB instead of the 2 × 64 MiB V8
 * picks on a machine with much memory: what a request allocates and holds until its audit record is durable no
 * longer fills 128 MiB before a scavenge, so RSS stays flat under load (a 10-minute soak of rampart-full: 4.8 %
 * growth against 18.7 %) and peaks lower (245 against 319 MiB), for more, shorter scavenges (docs/benchmarks.md).
 * V8 reads it only at start (`v8.setFlagsFromString` is too late), hence the re-exec.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** Set in the re-executed process: it never re-executes again. */
const MARK = 'RAMPART_GATEWAY_FLAGS_APPLIED';

/** The flag's name, dashes and underscores alike (`--max_semi_space_size` is the same V8 flag). */
const nameOf = (flag: string): string => flag.split('=')[0]!.replace(/_/g, '-');

/**
 * The flags of {@link GATEWAY_NODE_FLAGS} the operator has not set (on the command line or in NODE_OPTIONS): theirs
 * win. None when `RAMPART_NODE_FLAGS=off`.
 */
export function missingGatewayFlags(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (env['RAMPART_NODE_FLAGS'] === 'off' || env[MARK] === '1') return [];
  const given = new Set([...execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)].filter((f) => f.startsWith('--')).map(nameOf));
  return GATEWAY_NODE_FLAGS.filter((flag) => !given.has(nameOf(flag)));
}

/**
 * Replaces this process (same pid, same stdio, same arguments) with one that runs with the gateway's V8 flags, when
 * some are missing and the platform has `process.execve` (POSIX, Node ≥ 22.15). Cluster workers inherit the
 * supervisor's flags and never re-execute. Returns when nothing is to be done, or when the re-exec failed (said on
 * stderr; the gateway then runs as started).
 */
export function reexecWithGatewayFlags(): void {
  if (cluster.isWorker || process.platform === 'win32' || typeof process.execve !== 'function') return;
  const missing = missingGatewayFlags(process.execArgv, process.env);
  if (missing.length === 0) return;
  try {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [MARK]: '1' });
  } catch (error) {
    // A tuning flag, not a control: the gateway runs as started, and says why.
    process.stderr.write(`rampart: running without ${missing.join(' ')}: ${(error as Error).message}\n`);
  }
}
