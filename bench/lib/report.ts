import type { LoadResult } from './load.ts';

/** One measured run of one configuration. */
export interface Run extends LoadResult {
  readonly cpuSeconds: number;
  readonly peakRss: number;
}

export interface ConfigSummary {
  readonly name: string;
  readonly features: string;
  readonly runs: readonly Run[];
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The median (NaN for none): the fixed-rate targets are judged on the median of the rotations, not the mean. */
export const median = (xs: readonly number[]): number => {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const stdev = (xs: readonly number[]): number => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};

export interface Row {
  readonly name: string;
  readonly features: string;
  readonly rps: number;
  readonly rpsSd: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly cpuPer1k: number;
  readonly peakRssMb: number;
  readonly vsNginx: number;
  readonly vsFastify: number;
  /** CPU per request relative to the Node floor's (robust when other processes share the cores). */
  readonly cpuVsFloor: number;
  readonly failed: number;
  readonly runs: number;
}

/** Means over runs, and ratios to nginx and to the Fastify stack of the same run (NaN when absent). */
export function summarise(configs: readonly ConfigSummary[]): Row[] {
  const rpsOf = (name: string) => mean(configs.find((c) => c.name === name)?.runs.map((r) => r.rps) ?? []);
  const nginx = rpsOf('nginx');
  const fastify = rpsOf('fastify');
  const cpuOf = (c: ConfigSummary | undefined) => mean(c?.runs.map((r) => (r.cpuSeconds / r.requests) * 1000) ?? []);
  const floorCpu = cpuOf(configs.find((c) => c.name === 'node-floor'));
  return configs.map((c) => {
    const rps = mean(c.runs.map((r) => r.rps));
    return {
      name: c.name,
      features: c.features,
      rps,
      rpsSd: stdev(c.runs.map((r) => r.rps)),
      p50: mean(c.runs.map((r) => r.p50)),
      p99: mean(c.runs.map((r) => r.p99)),
      p999: mean(c.runs.map((r) => r.p999)),
      cpuPer1k: mean(c.runs.map((r) => (r.cpuSeconds / r.requests) * 1000)),
      peakRssMb: Math.max(...c.runs.map((r) => r.peakRss)) / 2 ** 20,
      vsNginx: rps / nginx,
      vsFastify: rps / fastify,
      cpuVsFloor: cpuOf(c) / floorCpu,
      failed: c.runs.reduce((a, r) => a + r.errors + r.non2xx, 0),
      runs: c.runs.length,
    };
  });
}

const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** The comparison table as GitHub markdown (also readable in a terminal). */
export function markdownTable(rows: readonly Row[]): string {
  const head = '| configuration | req/s (mean ± sd) | p50 ms | p99 ms | p99.9 ms | CPU s / 1k req | peak RSS MiB | × nginx | × Fastify stack | failed | runs | CPU × node-floor |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    (r) =>
      `| ${r.name} | ${f(r.rps, 0)} ± ${f(r.rpsSd, 0)} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.p999)} | ${f(r.cpuPer1k, 3)} | ${f(r.peakRssMb, 0)} | ${f(r.vsNginx)} | ${f(r.vsFastify)} | ${r.failed} | ${r.runs} | ${f(r.cpuVsFloor)} |`,
  );
  return [head, sep, ...lines].join('\n');
}
