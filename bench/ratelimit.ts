/**
 * Rate-limit benchmark (bounded, loopback only): `node bench/ratelimit.ts [--write]`.
 * 1. Decisions per second for each algorithm on each backend (memory; Redis at REDIS_URL or 127.0.0.1:6379 under a
 *    random prefix, cleaned up), sequential and with 64 decisions in flight (Redis pipelines them on one connection).
 * 2. Per-request overhead of a rate-limited route vs an unlimited one, side by side through one real gateway,
 *    measured with autocannon (3 s each, 32 connections).
 * With `--write` the results replace the "Rate limiting" section of docs/benchmarks.md.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { MemoryCounter } from '../src/counters/memory.ts';
import { RedisCounter } from '../src/counters/redis.ts';
import type { CounterBackend, LimitSpec } from '../src/counters/types.ts';
import { startGateway } from '../test/helpers/gateway.ts';
import { itemsConfig, SPEC_FILES } from '../test/helpers/gateway-fixtures.ts';
import { startUpstream } from '../test/helpers/upstream.ts';

interface CannonResult {
  readonly requests: { readonly average: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly non2xx: number;
}
// autocannon ships no types; this is the part of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: { url: string; connections: number; duration: number }) => Promise<CannonResult>;

const SPECS: readonly LimitSpec[] = [
  { algorithm: 'fixed_window', limit: 1e9, windowMs: 60_000 },
  { algorithm: 'sliding_window', limit: 1e9, windowMs: 60_000 },
  { algorithm: 'sliding_log', limit: 1000, windowMs: 1000 },
  { algorithm: 'token_bucket', intervalMs: 0.001, burst: 1e6 },
];
const MAX_MS = 1000;

async function rate(backend: CounterBackend, spec: LimitSpec, inFlight: number, maxOps: number): Promise<number> {
  let done = 0;
  let key = 0;
  const started = performance.now();
  const worker = async () => {
    while (done < maxOps && performance.now() - started < MAX_MS) {
      // 1000 keys round-robin: realistic spread without unbounded key growth.
      await backend.decide(`bench:${key++ % 1000}`, spec);
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return Math.round(done / ((performance.now() - started) / 1000));
}

async function decisions(): Promise<string[]> {
  const rows = ['| algorithm | memory (1 in flight) | redis (1 in flight) | redis (64 in flight) |', '|---|---:|---:|---:|'];
  const memory = new MemoryCounter();
  const redis = new RedisCounter({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', prefix: `rampart_bench_${randomBytes(4).toString('hex')}:`, timeoutMs: 1000 });
  const redisUp = await redis.waitReady(3000);
  try {
    for (const spec of SPECS) {
      const mem = await rate(memory, spec, 1, 2_000_000);
      const seq = redisUp ? await rate(redis, spec, 1, 50_000) : 0;
      const par = redisUp ? await rate(redis, spec, 64, 500_000) : 0;
      const fmt = (n: number) => (redisUp ? n.toLocaleString('en-US') : 'n/a');
      rows.push(`| ${spec.algorithm} | ${mem.toLocaleString('en-US')} | ${fmt(seq)} | ${fmt(par)} |`);
      console.log(rows.at(-1));
    }
  } finally {
    if (redisUp) await redis.reset('', 1_000_000);
    await redis.close();
  }
  return rows;
}

async function overhead(): Promise<string[]> {
  const upstream = await startUpstream();
  const gw = await startGateway(
    itemsConfig(upstream.url, {
      logging: { level: 'warn', access_log: false },
      monitor: { enabled: false },
      api: { response: { mode: 'off' }, rate_limits: [{ name: 'bench', key: 'ip', algorithm: 'token_bucket', rate: '1000000/s', burst: 1000000, operations: ['listItems'] }] },
    }),
    { files: SPEC_FILES },
  );
  const rows = ['| route | req/s | p50 ms | p99 ms |', '|---|---:|---:|---:|'];
  try {
    for (const [label, path] of [
      ['unlimited (`GET /items/1`)', '/items/1'],
      ['rate-limited, memory token bucket (`GET /items`)', '/items'],
      ['unlimited again', '/items/1'],
    ] as const) {
      const result = await autocannon({ url: gw.url + path, connections: 32, duration: 3 });
      rows.push(`| ${label} | ${Math.round(result.requests.average).toLocaleString('en-US')} | ${result.latency.p50} | ${result.latency.p99} |`);
      console.log(rows.at(-1), 'non-2xx:', result.non2xx);
    }
  } finally {
    await gw.close();
    await upstream.close();
  }
  return rows;
}

const decisionRows = await decisions();
const overheadRows = await overhead();
const section = [
  '## Rate limiting',
  '',
  `Measured by \`node bench/ratelimit.ts --write\` on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, Redis on loopback.`,
  '',
  '### Decisions per second (one process, 1000 keys round-robin, 1 s per cell)',
  '',
  ...decisionRows,
  '',
  'Redis is one Lua script (one round trip) per decision; with many decisions in flight ioredis pipelines them on one connection.',
  '',
  '### Per-request overhead of a limited route (one gateway, in-process upstream, autocannon 32 connections × 3 s)',
  '',
  ...overheadRows,
  '',
].join('\n');
if (process.argv.includes('--write')) {
  const file = new URL('../docs/benchmarks.md', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('\n## Rate limiting\n');
  let next = start === -1 ? -1 : text.indexOf('\n## ', start + 1);
  if (next !== -1 && text.slice(next).startsWith('\n## Rate limiting')) next = -1;
  const updated = start === -1 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start + 1)}${section}${next === -1 ? '' : text.slice(next)}`;
  writeFileSync(file, updated.endsWith('\n') ? updated : `${updated}\n`);
  console.log('docs/benchmarks.md updated');
} else {
  console.log(`\n${section}`);
}
