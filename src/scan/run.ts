/** Runs a scan: loads the spec and identities, plans, then (unless a dry run) executes every module in order. */
import { loadSpec, type LoadedSpec } from '../openapi/load.ts';
import { isLoopbackHost } from '../http/hosts.ts';
import { startCanary, type Canary } from './canary.ts';
import { BudgetExhausted, createScanClient } from './client.ts';
import { loadIdentityFile, resolveIdentity, type Identity, type IdentityConfig } from './identity.ts';
import { createMasker } from './mask.ts';
import { planScan, plannedRequests, type PlannedStep } from './planner.ts';
import type { PlannedProbe } from './probe.ts';
import type { Profile, ScanSession } from './session.ts';
import { sortFindings } from './severity.ts';
import type { Finding } from './types.ts';

export interface ScanOptions {
  readonly specFile: string;
  readonly target: URL;
  readonly identityFiles: readonly string[];
  readonly profile?: Profile;
  /** Requests per second, at most (default 10). */
  readonly rps?: number;
  /** Requests in total, at most (default 1000). */
  readonly maxRequests?: number;
  /** Per-request timeout in milliseconds (default 10000). */
  readonly timeoutMs?: number;
  /** Whole-scan time budget in milliseconds (default 600000). */
  readonly maxDurationMs?: number;
  readonly insecureTls?: boolean;
  readonly dryRun?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /** Called before each probe module runs (the CLI draws its progress line from it). */
  readonly onProgress?: (progress: { module: string; index: number; modules: number; requestsSent: number; plannedRequests: number }) => void;
}

export interface ScanResult {
  readonly target: string;
  readonly specFile: string;
  readonly profile: Profile;
  readonly dryRun: boolean;
  readonly planned: readonly PlannedProbe[];
  readonly plannedRequests: number;
  readonly findings: readonly Finding[];
  readonly requestsSent: number;
  /** What discovery learnt: objects with an owner or creator, and responses kept for the property checks. */
  readonly learnt: { readonly objects: number; readonly responses: number };
  /** Why the scan stopped before the end of its plan (budget, time), if it did. */
  readonly stoppedEarly?: string;
  /** What was deliberately not probed, and why (e.g. a server the spec lists on another host). */
  readonly notes: readonly string[];
  /** Modules that failed (e.g. the target went away), with the error's name and message. */
  readonly errors: readonly { module: string; message: string }[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** A configuration problem (exit code 2). */
export class ScanConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanConfigError';
  }
}

function loadIdentities(files: readonly string[]): IdentityConfig[] {
  if (files.length < 2) throw new ScanConfigError('--identity: at least two identities are needed (BOLA probes read one identity\'s objects as another)');
  const configs = files.map(loadIdentityFile);
  const names = new Set<string>();
  for (const c of configs) {
    if (names.has(c.name)) throw new ScanConfigError(`${c.file}: identity name "${c.name}" is used twice`);
    names.add(c.name);
  }
  return configs;
}

/**
 * Plans (and unless `dryRun`, runs) a scan. Probe failures do not throw: they are in `errors` (and an unreachable
 * target stops the scan).
 * @throws {ScanConfigError} fewer than two identities or a name used twice; {IdentityError} a bad identity file or a
 *   failed login; {SpecError} a spec that does not load.
 */
export async function runScan(options: ScanOptions): Promise<ScanResult> {
  const startedAt = new Date().toISOString();
  const profile = options.profile ?? 'safe';
  const spec: LoadedSpec = await loadSpec(options.specFile);
  const configs = loadIdentities(options.identityFiles);
  const steps = planScan({ spec, identities: configs.map((c) => ({ name: c.name, role: c.role })), profile, target: options.target });
  const planned = steps.flatMap((s) => s.probes);
  const base = { target: options.target.href, specFile: options.specFile, profile, planned, plannedRequests: plannedRequests(steps), startedAt };
  if (options.dryRun) return { ...base, dryRun: true, findings: [], requestsSent: 0, learnt: { objects: 0, responses: 0 }, notes: [], errors: [], finishedAt: new Date().toISOString() };

  const identities: Identity[] = [];
  for (const config of configs) identities.push(await resolveIdentity(config, options.target, options.env ?? process.env));
  const client = createScanClient({ target: options.target, rps: options.rps, maxRequests: options.maxRequests, timeoutMs: options.timeoutMs, maxDurationMs: options.maxDurationMs, insecureTls: options.insecureTls });
  const needsCanary = planned.some((p) => p.rule === 'api7.ssrf');
  let canary: Canary | undefined;
  const findings = new Map<string, Finding>();
  const errors: { module: string; message: string }[] = [];
  let stoppedEarly: string | undefined;
  let session: ScanSession | undefined;
  try {
    // The canary is on loopback: only a loopback target can reach it, and no other address is offered.
    if (needsCanary && isLoopbackHost(options.target.hostname)) canary = await startCanary();
    session = {
      spec,
      client,
      identities,
      profile,
      masker: createMasker(identities.flatMap((i) => i.secrets), identities.flatMap((i) => (i.apiKey?.in === 'header' ? [i.apiKey.name] : []))),
      basePath: options.target.pathname.replace(/\/+$/, ''),
      objects: [],
      recorded: [],
      notes: [],
      ...(canary ? { canary } : {}),
    };
    const total = plannedRequests(steps);
    stoppedEarly = await execute(session, steps, findings, errors, (module, index) => options.onProgress?.({ module, index, modules: steps.length, requestsSent: client.sent, plannedRequests: total }));
  } finally {
    await canary?.close();
    await client.close();
  }
  return { ...base, dryRun: false, findings: sortFindings([...findings.values()]), requestsSent: client.sent, learnt: { objects: session?.objects.length ?? 0, responses: session?.recorded.length ?? 0 }, ...(stoppedEarly ? { stoppedEarly } : {}), notes: session?.notes ?? [], errors, finishedAt: new Date().toISOString() };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

async function execute(session: ScanSession, steps: readonly PlannedStep[], findings: Map<string, Finding>, errors: { module: string; message: string }[], progress: (module: string, index: number) => void): Promise<string | undefined> {
  const report = (finding: Finding) => {
    if (!findings.has(finding.id)) findings.set(finding.id, finding);
  };
  for (const [index, step] of steps.entries()) {
    if (step.probes.length === 0) continue;
    progress(step.module.name, index);
    try {
      await step.module.run(session, step.probes, report);
    } catch (error) {
      if (error instanceof BudgetExhausted) return error.message;
      errors.push({ module: step.module.name, message: session.masker.url(`${(error as Error).name}: ${(error as Error).message}`).slice(0, 300) });
      // An unreachable target fails every module the same way: stop at the first.
      if (UNREACHABLE.has(String((error as { code?: unknown }).code))) return 'the target is unreachable';
    }
  }
  return undefined;
}

