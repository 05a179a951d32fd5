import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one load run measured. Latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Socket errors and timeouts. */
  readonly errors: number;
  /** Responses outside 2xx/3xx. */
  readonly non2xx: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly headers: Record<string, string>;
}

export type LoadTool = 'wrk' | 'autocannon';

const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"p999":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`;

let scriptPath: string | undefined;

/** Runs wrk (1 thread) and parses the summary printed by a `done` hook (wrk latencies are in µs). */
export function runWrk(options: LoadOptions): Promise<LoadResult> {
  scriptPath ??= (() => {
    const file = join(mkdtempSync(join(tmpdir(), 'rampart-bench-wrk-')), 'report.lua');
    writeFileSync(file, WRK_SCRIPT);
    return file;
  })();
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '5s', '-s', scriptPath];
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}: ${value}`);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (options.seconds + 30) * 1000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`wrk failed: ${error.message}\n${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (!line) return reject(new Error(`wrk printed no summary:\n${stdout}\n${stderr}`));
      const r = JSON.parse(line.slice(8)) as Record<string, number>;
      const seconds = r['duration_us']! / 1e6;
      resolve({
        requests: r['requests']!,
        seconds,
        rps: r['requests']! / seconds,
        p50: r['p50']! / 1000,
        p99: r['p99']! / 1000,
        p999: r['p999']! / 1000,
        errors: r['connect']! + r['read']! + r['write']! + r['timeout']!,
        non2xx: r['status']!,
      });
    });
  });
}

const require = createRequire(import.meta.url);

/** Runs autocannon in its own process (so it does not share the harness's event loop); latencies in ms. */
export function runAutocannon(options: LoadOptions & { rate?: number }): Promise<LoadResult> {
  const bin = require.resolve('autocannon/autocannon.js');
  const args = [bin, '--json', '-c', String(options.connections), '-d', String(options.seconds), '--timeout', '5'];
  if (options.rate) args.push('-R', String(options.rate));
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}=${value}`);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: (options.seconds + 30) * 1000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`autocannon failed: ${error.message}\n${stderr}`));
      const r = JSON.parse(stdout) as {
        requests: { total: number };
        duration: number;
        latency: Record<string, number>;
        errors: number;
        timeouts: number;
        non2xx: number;
      };
      resolve({
        requests: r.requests.total,
        seconds: r.duration,
        rps: r.requests.total / r.duration,
        p50: r.latency['p50']!,
        p99: r.latency['p99']!,
        p999: r.latency['p99_9']!,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx,
      });
    });
  });
}

/** Runs the chosen load generator. */
export function runLoad(tool: LoadTool, options: LoadOptions): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(options) : runAutocannon(options);
}
