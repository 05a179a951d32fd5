import { Pool } from 'undici';

/**
 * Open-loop load at a fixed rate, for "latency added at N req/s": requests are sent on a schedule whatever the
 * previous ones are doing, and latency is measured from the scheduled send time (no coordinated omission).
 * Runs as its own process: node bench/lib/fixed-rate.ts <url> <rate> <seconds> <headers-json>. Prints one JSON line
 * {requests, errors, non2xx, p50, p99, p999} with latencies in ms.
 */
async function main(): Promise<void> {
  const [url, rateText, secondsText, headersJson] = process.argv.slice(2);
  const target = new URL(url!);
  const rate = Number(rateText);
  const seconds = Number(secondsText);
  const headers = JSON.parse(headersJson ?? '{}') as Record<string, string>;
  const pool = new Pool(target.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const total = Math.floor(rate * seconds);
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  const path = target.pathname + target.search;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const fire = (scheduled: number) => {
      pool.request({ path, method: 'GET', headers }).then(
        async (res) => {
          await res.body.dump();
          if (res.statusCode >= 400) non2xx++;
          latencies[done++] = performance.now() - scheduled;
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
      while (sent < due) fire(start + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
    setTimeout(resolve, (seconds + 10) * 1000).unref();
  });
  const sorted = latencies.slice(0, done).sort();
  const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);
  process.stdout.write(`${JSON.stringify({ requests: done, errors, non2xx, p50: pct(50), p99: pct(99), p999: pct(99.9) })}\n`);
  await pool.close();
}

if (import.meta.main) await main();
