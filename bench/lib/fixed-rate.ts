import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Pool } from 'undici';

/**
 * Open-loop load at a fixed rate, for "latency added at N req/s": requests are sent on a schedule whatever the
 * previous ones are doing, and latency is measured from the scheduled send time (no coordinated omission).
 * Runs as its own process: node bench/lib/fixed-rate.ts <url> <rate> <seconds> <headers-json> [warm-up-seconds].
 * The warm-up (default 2 s) runs the same schedule before the measured seconds and is not counted: a fresh
 * generator process compiles its own code and opens its connections then, and its stalls would otherwise be
 * charged to the server (latency runs from the scheduled time). Prints one JSON line
 * {requests, errors, non2xx, p50, p99, p999, loopP99, loopMax} with latencies in ms; loop* is the generator's own
 * event-loop delay during the measured part, which bounds how much of the tail is the generator's.
 */
async function main(): Promise<void> {
  const [url, rateText, secondsText, headersJson, warmupText] = process.argv.slice(2);
  const target = new URL(url!);
  const rate = Number(rateText);
  const seconds = Number(secondsText);
  const headers = JSON.parse(headersJson ?? '{}') as Record<string, string>;
  const pool = new Pool(target.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const warmup = Math.floor(rate * Number(warmupText ?? 2));
  const total = warmup + Math.floor(rate * seconds);
  const latencies = new Float64Array(total);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  let sent = 0;
  let done = 0;
  let measured = 0;
  let errors = 0;
  let non2xx = 0;
  const path = target.pathname + target.search;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const fire = (scheduled: number, counted: boolean) => {
      pool.request({ path, method: 'GET', headers }).then(
        async (res) => {
          await res.body.dump();
          if (res.statusCode >= 400) non2xx++;
          if (counted) latencies[measured++] = performance.now() - scheduled;
          done++;
          if (done + errors === total) resolve();
        },
        () => {
          errors++;
          if (done + errors === total) resolve();
        },
      );
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      while (sent < due) {
        if (sent === warmup) loop.enable();
        fire(start + (sent * 1000) / rate, sent >= warmup);
        sent++;
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
    setTimeout(resolve, (seconds + 10) * 1000).unref();
  });
  loop.disable();
  const sorted = latencies.slice(0, measured).sort();
  const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  // The histogram records each 5 ms sampling timer's elapsed time: the delay is what exceeds the resolution.
  const loopMs = (ns: number) => (loop.count ? Math.max(0, ns / 1e6 - 5) : NaN);
  const result = { requests: measured, errors, non2xx, p50: pct(50), p99: pct(99), p999: pct(99.9), loopP99: loopMs(loop.percentile(99)), loopMax: loopMs(loop.max) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await pool.close();
}

if (import.meta.main) await main();
