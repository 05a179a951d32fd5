#!/usr/bin/env node
/**
 * The benchmark harness (`npm run bench`). Starts, on loopback, a small Node upstream, nginx as a plain reverse
 * proxy, the Node floor, the Fastify stack and Rampart in several configurations; runs the same load against each
 * (configurations alternate, every one measured `--rounds` times); prints req/s, latency percentiles, CPU seconds
 * per 1000 requests and peak RSS with ratios to nginx and to the Fastify stack; optionally measures latency added
 * at a fixed rate and RSS over a soak; writes docs/benchmarks.md. `--help` lists the options.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startIssuer, type BenchIssuer } from './lib/issuer.ts';
import { runLoad, type LoadTool } from './lib/load.ts';
import { describeMachine, toolVersion } from './lib/machine.ts';
import { ensureNginx, ensureWrk, nginxArgs } from './lib/nginx.ts';
import { freePort, sleep, startServer, treeCpuSeconds, treePeakRss, treeRss, type Server } from './lib/proc.ts';
import { buildConfig, resolveFeatures, writeConfig, type RampartConfigName } from './lib/rampart.ts';
import { markdownTable, median, summarise, type ConfigSummary, type Run } from './lib/report.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const NODE = process.execPath;

const HELP = `Usage: npm run bench -- [options]

  --quick                 a few seconds: node-floor, rampart-passthrough, rampart-full; 2 × 1 s; no install, no docs
  --configs a,b,c         configurations (default: ${'nginx,node-floor,fastify,rampart-passthrough,rampart-jwt,rampart-full,rampart-full-identity,rampart-full-2w'})
                          also: fastify-jwt-cache, rampart-passthrough-2w, rampart-jwt-2w
  --duration S            seconds per measured run (default 10)
  --rounds N              measured runs per configuration, alternating (default 3)
  --connections C         concurrent connections (default 50)
  --tool wrk|autocannon   load generator (default wrk when installed, else autocannon)
  --fixed-rate R          req/s for the added-latency test, 0 to skip (default 2000)
  --fixed-seconds S       seconds per fixed-rate run (default 10)
  --soak S                run rampart-full under load for S seconds and report RSS growth (default 0: skip)
  --cpu-prof DIR          start Rampart processes with --cpu-prof, profiles written to DIR on exit
  --json FILE             also write the raw results as JSON
  --no-docs               do not rewrite docs/benchmarks.md (implied by --quick)
  --no-install            never apt-get install nginx/wrk (implied by --quick)
  --no-access-log         Rampart without its per-request access log line (default: on, as shipped)
  --audit-durability M    sync (default, as shipped: a response waits for its audit record's commit) or async
`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    configs: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string', default: '50' },
    tool: { type: 'string' },
    'fixed-rate': { type: 'string' },
    'fixed-seconds': { type: 'string', default: '10' },
    soak: { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
    'no-access-log': { type: 'boolean', default: false },
    'audit-durability': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const quick = opts.quick;
if (opts['audit-durability'] !== undefined) {
  if (!['sync', 'async'].includes(opts['audit-durability'])) throw new Error('--audit-durability: sync or async');
  process.env['RAMPART_BENCH_AUDIT_DURABILITY'] = opts['audit-durability'];
}
const duration = Number(opts.duration ?? (quick ? 1 : 10));
const rounds = Number(opts.rounds ?? (quick ? 2 : 3));
const connections = Number(opts.connections);
const fixedRate = Number(opts['fixed-rate'] ?? (quick ? 0 : 2000));
const fixedSeconds = Number(opts['fixed-seconds']);
const soakSeconds = Number(opts.soak);
const install = !quick && !opts['no-install'];
const writeDocs = !quick && !opts['no-docs'];
const DEFAULT_CONFIGS = 'nginx,node-floor,fastify,rampart-passthrough,rampart-jwt,rampart-full,rampart-full-identity,rampart-full-2w';
const configNames = (opts.configs ?? (quick ? 'node-floor,rampart-passthrough,rampart-full' : DEFAULT_CONFIGS)).split(',').map((s) => s.trim()).filter(Boolean);
for (const [name, value] of Object.entries({ duration, rounds, connections, fixedRate, fixedSeconds, soakSeconds })) {
  if (!Number.isFinite(value) || value < 0 || value > 86_400) throw new Error(`--${name}: expected a number of reasonable size, got ${value}`);
}
if (rounds < 1 || duration < 1 || connections < 1) throw new Error('--rounds, --duration and --connections must be at least 1');

const log = (line: string) => process.stderr.write(`${line}\n`);

// Every temp file of the run (configs, the stores a soak fills — a 10-minute one writes about 1 GiB of audit
// trail —, server logs, nginx) lands under one root (os.tmpdir() reads TMPDIR), removed when the run succeeds.
const tempRoot = mkdtempSync(join(tmpdir(), 'rampart-bench-'));
process.env['TMPDIR'] = tempRoot;
process.on('exit', (code) => {
  if (code === 0) rmSync(tempRoot, { recursive: true, force: true });
  else log(`bench: temp files (configs, stores, server logs) kept in ${tempRoot}`);
});

interface Target {
  readonly name: string;
  readonly server: Server;
  readonly features: string;
  /** Rampart's admin listener (its /metrics carries the process's event-loop delay and GC time). */
  readonly adminUrl?: string;
}

/** The gateway's Prometheus text from its admin listener, and the value of an unlabelled sample in it. */
async function gatewayMetrics(adminUrl: string): Promise<{ lines: string[]; value(name: string): number }> {
  const res = await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${process.env['RAMPART_BENCH_ADMIN_TOKEN']}` }, signal: AbortSignal.timeout(5000) });
  const lines = (await res.text()).split('\n');
  return { lines, value: (name) => Number(lines.find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN) };
}

/**
 * The gateway process's event-loop delay since the previous scrape (prom-client resets its histogram on each
 * collect) and its GC time so far.
 */
async function gatewayLoad(adminUrl: string): Promise<{ loopP99Ms: number; loopMaxMs: number; gcSeconds: number }> {
  const { lines, value } = await gatewayMetrics(adminUrl);
  const gc = lines.filter((l) => l.startsWith('rampart_nodejs_gc_duration_seconds_sum')).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  return { loopP99Ms: value('rampart_nodejs_eventloop_lag_p99_seconds') * 1000, loopMaxMs: value('rampart_nodejs_eventloop_lag_max_seconds') * 1000, gcSeconds: gc };
}

/** The gateway's V8 heap in use and its external (Buffer, native) memory, MiB: where RSS growth in a soak lives. */
async function gatewayMemory(adminUrl: string): Promise<{ heapMb: number; externalMb: number } | undefined> {
  try {
    const { value } = await gatewayMetrics(adminUrl);
    return { heapMb: value('rampart_nodejs_heap_size_used_bytes') / 2 ** 20, externalMb: value('rampart_nodejs_external_memory_bytes') / 2 ** 20 };
  } catch {
    return undefined;
  }
}

const started: Server[] = [];
async function launch(name: string, command: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Promise<Server> {
  const server = await startServer(name, command, args, port, { env });
  started.push(server);
  return server;
}

async function launchConfig(name: string, upstream: Server, issuer: BenchIssuer, nginxPath: string | undefined): Promise<Target | undefined> {
  const port = await freePort();
  const jwtEnv = { BENCH_JWT_PUBLIC_PEM: issuer.publicPem, BENCH_JWT_ISSUER: issuer.url, BENCH_JWT_AUDIENCE: issuer.audience };
  switch (name) {
    case 'nginx':
      if (!nginxPath) return undefined;
      return { name, features: 'plain reverse proxy, upstream keep-alive, 1 worker', server: await launch(name, nginxPath, nginxArgs(port, upstream.port, 1), port) };
    case 'node-floor':
      return { name, features: 'node:http + undici Pool', server: await launch(name, NODE, [join(ROOT, 'bench/servers/node-floor.ts'), String(port), upstream.url], port) };
    case 'fastify':
    case 'fastify-jwt-cache': {
      const env = { ...jwtEnv, BENCH_FASTIFY_JWT_CACHE: name === 'fastify' ? '0' : '10000' };
      const server = await launch(name, NODE, [join(ROOT, 'bench/servers/fastify-stack.ts'), String(port), upstream.url], port, env);
      return { name, features: `http-proxy + @fastify/jwt ES256${name === 'fastify' ? '' : ' (fast-jwt cache)'} + rate-limit + body schema`, server };
    }
    default: {
      const match = /^(rampart-(?:passthrough|jwt|full|full-identity))(?:-([0-9]+)w)?$/.exec(name);
      if (!match) throw new Error(`unknown configuration "${name}"\n\n${HELP}`);
      const base = match[1] as RampartConfigName;
      const workers = Number(match[2] ?? 1);
      const resolved = await resolveFeatures(base, issuer, upstream.port);
      if (resolved.missing.length > 0) {
        log(`!! ${name}: NOT IN src/ YET, measured without: ${resolved.missing.map((m) => `${m.name} (${m.why})`).join('; ')}`);
      }
      const admin = await freePort();
      const file = writeConfig(buildConfig(base, resolved.active, 'bench', issuer, { http: port, admin, upstream: upstream.port }, !opts['no-access-log']));
      const nodeArgs = opts['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opts['cpu-prof'])}`] : [];
      const args = [...nodeArgs, join(ROOT, 'src/cli/main.ts'), 'start', '-c', file, ...(workers > 1 ? ['--workers', String(workers)] : [])];
      const server = await launch(name, NODE, args, port);
      const features = [
        resolved.active.length ? resolved.active.join(' + ') : 'no policies',
        opts['no-access-log'] ? 'access log off' : 'access log on',
        resolved.active.includes('identity') ? '' : 'identity assertion off',
        workers > 1 ? `${workers} workers` : '',
      ]
        .concat(resolved.missing.length ? [`MISSING: ${resolved.missing.map((m) => m.name).join(', ')}`] : [])
        .filter(Boolean)
        .join('; ');
      return { name, features, server, adminUrl: `http://127.0.0.1:${admin}` };
    }
  }
}

/** Every configuration must answer the benchmark request with 200 before it is measured. */
async function checkAnswers(target: Target, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`${target.server.url}/items/42`, { headers, signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${target.name} answered ${res.status} to the benchmark request: ${body.slice(0, 300)}`);
}

function fixedRateRun(url: string, headers: Record<string, string>, seconds = fixedSeconds): Promise<{ p50: number; p99: number; p999: number; requests: number; errors: number; non2xx: number; loopP99: number; loopMax: number }> {
  return new Promise((resolveRun, reject) => {
    execFile(NODE, [join(ROOT, 'bench/lib/fixed-rate.ts'), url, String(fixedRate), String(seconds), JSON.stringify(headers)], { timeout: (seconds + 30) * 1000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`fixed-rate run failed: ${error.message}\n${stderr}`));
      resolveRun(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

async function main(): Promise<number> {
  const wrk = ensureWrk(install);
  const tool: LoadTool = (opts.tool as LoadTool | undefined) ?? (wrk ? 'wrk' : 'autocannon');
  if (tool === 'wrk' && !wrk) throw new Error('--tool wrk: wrk is not installed (apt-get install -y wrk)');
  let nginxPath: string | undefined;
  if (configNames.includes('nginx')) {
    const found = ensureNginx(install);
    if ('reason' in found) log(`!! nginx SKIPPED: ${found.reason}. Ratios to nginx cannot be computed.`);
    else nginxPath = found.path;
  }
  const issuer = await startIssuer();
  const headers = { authorization: `Bearer ${issuer.token}` };
  const upstreamPort = await freePort();
  const upstream = await launch('upstream', NODE, [join(ROOT, 'bench/servers/upstream.ts'), String(upstreamPort)], upstreamPort);
  const targets: Target[] = [];
  try {
    for (const name of configNames) {
      log(`starting ${name}…`);
      const target = await launchConfig(name, upstream, issuer, nginxPath);
      if (!target) continue;
      await checkAnswers(target, headers);
      targets.push(target);
    }
    const load = (target: Target, seconds: number) => runLoad(tool, { url: `${target.server.url}/items/42`, connections, seconds, headers });
    if (!quick) {
      for (const target of targets) {
        log(`warm-up ${target.name} (${Math.min(3, duration)} s)`);
        await load(target, Math.min(3, duration));
      }
    }
    const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no configuration always runs first or right after the same neighbour.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const pid = target.server.child.pid!;
        const cpuBefore = treeCpuSeconds(pid);
        const result = await load(target, duration);
        const cpuSeconds = treeCpuSeconds(pid) - cpuBefore;
        const run: Run = { ...result, cpuSeconds, peakRss: treePeakRss(pid) };
        runs.get(target.name)!.push(run);
        log(`round ${round + 1}/${rounds} ${target.name.padEnd(22)} ${result.rps.toFixed(0).padStart(7)} req/s  p99 ${result.p99.toFixed(2)} ms  cpu ${((cpuSeconds / result.requests) * 1000).toFixed(3)} s/1k${result.errors + result.non2xx ? `  FAILED ${result.errors + result.non2xx}` : ''}`);
        await sleep(300);
      }
    }
    const summaries: ConfigSummary[] = targets.map((t) => ({ name: t.name, features: t.features, runs: runs.get(t.name)! }));
    const rows = summarise(summaries);

    // Latency added at a fixed rate: the same open-loop load straight at the upstream and through Rampart
    // (rampart-full, and rampart-jwt when measured: rampart-full's audited responses wait for the audit group
    // commit by design). The order rotates every round.
    const added: AddedLatency[] = [];
    const fixedTargets = ['rampart-full', 'rampart-jwt'].map((n) => targets.find((t) => t.name === n)).filter((t): t is Target => t !== undefined);
    if (fixedTargets.length === 0) {
      const fallback = targets.find((t) => t.name.startsWith('rampart-'));
      if (fallback) fixedTargets.push(fallback);
    }
    if (fixedRate > 0 && fixedTargets.length > 0) {
      // node-floor and rampart-passthrough, when measured, run the same schedule: a proxy hop with no policies
      // shows how much of the tail any Node proxy on these cores gets (load generator and upstream share them).
      const references = ['node-floor', 'rampart-passthrough'].map((n) => targets.find((t) => t.name === n)).filter((t): t is Target => t !== undefined);
      const legs = [{ name: 'direct', url: upstream.url, adminUrl: undefined as string | undefined }, ...[...references, ...fixedTargets].map((t) => ({ name: t.name, url: t.server.url, adminUrl: t.adminUrl }))];
      const results = new Map<string, number[][]>(legs.map((l) => [l.name, []]));
      for (let round = 0; round < rounds; round++) {
        for (const leg of legs.map((_, i) => legs[(i + round) % legs.length]!)) {
          // A stall in the tail is attributed: the gateway's own event-loop delay (prom-client samples it at a 10 ms
          // resolution, so a p99 just over 10 ms means a loop that hardly waited) and GC time over the same run.
          const before = leg.adminUrl ? await gatewayLoad(leg.adminUrl) : undefined;
          const r = await fixedRateRun(`${leg.url}/items/42`, headers);
          const after = leg.adminUrl ? await gatewayLoad(leg.adminUrl) : undefined;
          if (r.errors + r.non2xx > 0) throw new Error(`fixed-rate ${leg.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
          const gcMs = before && after ? (after.gcSeconds - before.gcSeconds) * 1000 : NaN;
          results.get(leg.name)!.push([r.p50, r.p99, r.p999, after?.loopP99Ms ?? NaN, after?.loopMaxMs ?? NaN, gcMs]);
          const gateway = after ? `; gateway loop delay p99 ${after.loopP99Ms.toFixed(1)} max ${after.loopMaxMs.toFixed(1)} ms, GC ${gcMs.toFixed(0)} ms` : '';
          log(`fixed ${fixedRate} req/s ${leg.name.padEnd(22)} p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} p99.9 ${r.p999.toFixed(3)} ms  (generator loop delay p99 ${r.loopP99.toFixed(1)} max ${r.loopMax.toFixed(1)} ms${gateway})`);
        }
      }
      const runsOf = (name: string, i: number) => results.get(name)!.map((x) => x[i]!);
      const at = (name: string, i: number) => median(runsOf(name, i));
      for (const t of fixedTargets) {
        const direct = runsOf('direct', 1);
        added.push({
          config: t.name,
          directP50: at('direct', 0),
          rampartP50: at(t.name, 0),
          directP99: at('direct', 1),
          rampartP99: at(t.name, 1),
          directP999: at('direct', 2),
          rampartP999: at(t.name, 2),
          // Per rotation: the gateway's p99 minus the direct p99 measured in the same rotation.
          addedP99Runs: runsOf(t.name, 1).map((p99, i) => p99 - direct[i]!),
          ...(results.has('node-floor') ? { nodeFloorP99: at('node-floor', 1) } : {}),
          gatewayLoopP99: at(t.name, 3),
          gatewayLoopMax: at(t.name, 4),
          gatewayGcMs: at(t.name, 5),
        });
      }
    }

    // Soak: RSS of rampart-full sampled while under load (the fixed rate when there is one, else wrk's closed
    // loop); growth measured from the first sample after a minute (or a fifth of the run when shorter), so
    // start-up and JIT warm-up do not count as growth.
    let soak: { seconds: number; samplesMb: number[]; heapMb: number[]; externalMb: number[]; growthPct: number; rps: number } | undefined;
    const soakTarget = targets.find((t) => t.name === 'rampart-full');
    if (soakSeconds > 0 && soakTarget) {
      const pid = soakTarget.server.child.pid!;
      const samples: number[] = [];
      const memory: { heapMb: number; externalMb: number }[] = [];
      const timer = setInterval(() => {
        samples.push(treeRss(pid) / 2 ** 20);
        if (soakTarget.adminUrl) void gatewayMemory(soakTarget.adminUrl).then((m) => m && memory.push(m));
      }, 5000);
      const result =
        fixedRate > 0
          ? await fixedRateRun(`${soakTarget.server.url}/items/42`, headers, soakSeconds).then((r) => ({ rps: r.requests / soakSeconds }))
          : await load(soakTarget, soakSeconds);
      clearInterval(timer);
      const baseIndex = Math.min(samples.length - 1, Math.max(0, Math.floor(Math.min(60, soakSeconds / 5) / 5)));
      const base = samples[baseIndex] ?? NaN;
      const growthPct = ((Math.max(...samples.slice(baseIndex)) - base) / base) * 100;
      const round = (n: number) => Math.round(n * 10) / 10;
      soak = { seconds: soakSeconds, samplesMb: samples.map(round), heapMb: memory.map((m) => round(m.heapMb)), externalMb: memory.map((m) => round(m.externalMb)), growthPct, rps: result.rps };
      const heap = memory.length > baseIndex ? `; V8 heap used ${memory[baseIndex]!.heapMb.toFixed(1)} → max ${Math.max(...memory.slice(baseIndex).map((m) => m.heapMb)).toFixed(1)} MiB, external ${memory[baseIndex]!.externalMb.toFixed(1)} → ${memory.at(-1)!.externalMb.toFixed(1)} MiB` : '';
      log(`soak ${soakSeconds} s: ${result.rps.toFixed(0)} req/s, RSS ${base.toFixed(1)} → max ${Math.max(...samples.slice(baseIndex)).toFixed(1)} MiB (${growthPct.toFixed(1)}%)${heap}`);
    }

    const machine = describeMachine({
      nginx: nginxPath ? toolVersion(nginxPath, ['-v']) : undefined,
      load: tool === 'wrk' ? toolVersion('wrk', ['--version'])?.replace(/ Copyright.*/, '') : 'autocannon (npm)',
    });
    const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const table = markdownTable(rows);
    const targetsText = evaluateTargets(rows, added, soak);
    const setup = `${tool === 'wrk' ? 'wrk -t1' : 'autocannon'} -c${connections}, ${duration} s per run, ${rounds} alternating runs per configuration, GET /items/42 with a Bearer ES256 token, ~200 B JSON upstream`;
    process.stdout.write(`\n${setup}\n\n${table}\n\nFeatures:\n${rows.map((r) => `  ${r.name}: ${r.features}`).join('\n')}\n\n${targetsText}\n`);

    if (opts.json) {
      mkdirSync(dirname(resolve(opts.json)), { recursive: true });
      writeFileSync(resolve(opts.json), JSON.stringify({ machine, command, setup, rows, summaries, added, soak }, null, 2));
    }
    if (writeDocs) {
      writeBenchmarksDoc({ machine, command, setup, table, rows, targetsText, date: new Date().toISOString() });
      log('wrote docs/benchmarks.md');
    }
    return 0;
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    await issuer.close();
  }
}

interface AddedLatency {
  readonly config: string;
  readonly directP50: number;
  readonly rampartP50: number;
  readonly directP99: number;
  readonly rampartP99: number;
  readonly directP999: number;
  readonly rampartP999: number;
  /** p99 added over direct in each rotation (the target is on their median). */
  readonly addedP99Runs: readonly number[];
  /** p99 of the Node floor (a proxy hop without policies) under the same schedule, when measured. */
  readonly nodeFloorP99?: number;
  /** The gateway process's event-loop delay (p99, max) and GC time per run, medians over the rotations. */
  readonly gatewayLoopP99: number;
  readonly gatewayLoopMax: number;
  readonly gatewayGcMs: number;
}

function evaluateTargets(
  rows: ReturnType<typeof summarise>,
  added: readonly AddedLatency[],
  soak: { seconds: number; growthPct: number } | undefined,
): string {
  const by = (name: string) => rows.find((r) => r.name === name);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'NOT MEASURED' : ok ? 'met' : 'NOT MET');
  const cpuVs = (name: string, over: string) => (by(name)?.cpuPer1k ?? NaN) / (by(over)?.cpuPer1k ?? NaN);
  const ratioLine = (label: string, value: number, ok: (v: number) => boolean, unit = '×') =>
    `- ${label}: ${Number.isFinite(value) ? `${value.toFixed(2)}${unit}` : '–'} → ${verdict(Number.isFinite(value) ? ok(value) : undefined)}`;
  const lines = ['Targets (issue 15; table: means of the runs above; fixed rate: medians of the rotations):'];
  lines.push(ratioLine('rampart-full CPU per request ≤ 1.4× node-floor', cpuVs('rampart-full', 'node-floor'), (v) => v <= 1.4));
  lines.push(ratioLine('rampart-passthrough CPU per request ≤ 1.15× node-floor', cpuVs('rampart-passthrough', 'node-floor'), (v) => v <= 1.15));
  lines.push(ratioLine('rampart-full throughput ≥ 3× the Fastify stack', by('rampart-full')?.vsFastify ?? NaN, (v) => v >= 3));
  lines.push(ratioLine('rampart-full peak RSS ≤ 1.3× node-floor', (by('rampart-full')?.peakRssMb ?? NaN) / (by('node-floor')?.peakRssMb ?? NaN), (v) => v <= 1.3));
  const cpuNotes: string[] = [];
  for (const [name, over] of [['rampart-jwt', 'node-floor'], ['rampart-full', 'fastify'], ['node-floor', 'nginx']] as const) {
    const ratio = cpuVs(name, over);
    if (Number.isFinite(ratio)) cpuNotes.push(`${name} ${ratio.toFixed(2)}× ${over}`);
  }
  if (cpuNotes.length > 0) lines.push(`- CPU per request, other pairs: ${cpuNotes.join('; ')}`);
  if (added.length === 0) lines.push(`- p99 added at a fixed rate → NOT MEASURED (--fixed-rate 0 or no rampart configuration)`);
  for (const a of added) {
    const limit = a.config === 'rampart-full' ? 4 : 2;
    const addedMedian = median(a.addedP99Runs);
    const spread = a.addedP99Runs.length > 1 ? ` (rotations: ${a.addedP99Runs.map((x) => x.toFixed(2)).join(', ')})` : '';
    lines.push(
      `- p99 added at ${fixedRate} req/s ≤ ${limit} ms (${a.config}): ${Number.isFinite(addedMedian) ? addedMedian.toFixed(2) : '–'} ms${spread} → ${verdict(Number.isFinite(addedMedian) ? addedMedian <= limit : undefined)}` +
        ` (p50 ${a.directP50.toFixed(2)} → ${a.rampartP50.toFixed(2)} ms, p99 ${a.directP99.toFixed(2)} → ${a.rampartP99.toFixed(2)} ms, p99.9 ${a.directP999.toFixed(2)} → ${a.rampartP999.toFixed(2)} ms` +
        (a.nodeFloorP99 === undefined ? '' : `; node-floor's p99 ${a.nodeFloorP99.toFixed(2)} ms`) +
        `; gateway event-loop delay p99 ${a.gatewayLoopP99.toFixed(1)} ms, max ${a.gatewayLoopMax.toFixed(1)} ms, GC ${a.gatewayGcMs.toFixed(0)} ms per ${fixedSeconds} s run)`,
    );
  }
  lines.push(soak ? `- RSS flat over the soak (≤ 5% growth after warm-up, ${soak.seconds} s): ${soak.growthPct.toFixed(1)}% → ${verdict(soak.growthPct <= 5)}` : '- RSS flat over a 10-minute soak → NOT MEASURED (use --soak 600)');
  const one = by('rampart-full');
  const two = by('rampart-full-2w');
  if (one && two) {
    lines.push(ratioLine('rampart-full with --workers 2: CPU per request does not rise (≤ 1.05× one worker)', two.cpuPer1k / one.cpuPer1k, (v) => v <= 1.05));
    lines.push(`- throughput rampart-full 1 → 2 workers: ${(two.rps / one.rps).toFixed(2)}× (${one.rps.toFixed(0)} → ${two.rps.toFixed(0)} req/s; not a scaling measure on 2 cores shared with the load generator)`);
  }
  return lines.join('\n');
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** Rewrites only the generated block of docs/benchmarks.md; everything outside the markers is kept. */
function writeBenchmarksDoc(r: { machine: Record<string, string>; command: string; setup: string; table: string; rows: ReturnType<typeof summarise>; targetsText: string; date: string }): void {
  const file = join(ROOT, 'docs/benchmarks.md');
  const block = [
    START,
    `_Generated by the harness on ${r.date.slice(0, 10)} (${r.date}). Command: \`${r.command}\`._`,
    '',
    `Machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join(' · ')}`,
    '',
    `Setup: ${r.setup}.`,
    '',
    r.table,
    '',
    'Features per configuration:',
    '',
    ...r.rows.map((row) => `- **${row.name}**: ${row.features}`),
    '',
    r.targetsText,
    END,
  ].join('\n');
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const from = existing.indexOf(START);
  const to = existing.indexOf(END);
  const next = from === -1 || to === -1 ? `${existing.trimEnd()}\n\n${block}\n` : `${existing.slice(0, from)}${block}${existing.slice(to + END.length)}`;
  writeFileSync(file, next);
}

const timeout = setTimeout(() => {
  log('bench: overall time limit reached, stopping');
  void Promise.all(started.map((s) => s.stop())).finally(() => process.exit(1));
}, (configNames.length * rounds * (duration + 5) + 3 * rounds * (fixedSeconds + 10) + soakSeconds + 600) * 1000);
timeout.unref();

main().then(
  (code) => {
    clearTimeout(timeout);
    process.exit(code);
  },
  async (error: unknown) => {
    log(`bench: ${(error as Error).message}`);
    await Promise.all(started.map((s) => s.stop()));
    process.exit(1);
  },
);
