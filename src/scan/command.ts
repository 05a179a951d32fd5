/** `rampart scan`: flags, exit codes and output files. */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLoopbackHost } from '../http/hosts.ts';
import { SpecError } from '../openapi/load.ts';
import { IdentityError } from './identity.ts';
import { formatPlan, formatText } from './report-text.ts';
import { formatHtml } from './report-html.ts';
import { toSarif } from './report-sarif.ts';
import { runScan, ScanConfigError, type ScanResult } from './run.ts';
import { findingsAtOrAbove, isSeverity } from './severity.ts';
import type { Severity } from './types.ts';

export const SCAN_USAGE = `Usage: rampart scan --spec openapi.yaml --target URL --identity a.yaml --identity b.yaml [options]

  Attacks an API the way the OWASP API Security Top 10 (2023) describes, from its OpenAPI spec and two or more
  identities, and reports findings with masked evidence and the Rampart config that would block each. Only the
  target's host:port receives probes (plus the scanner's own loopback canary for SSRF); identities that log in
  contact their login URL once. See docs/scan.md.

  --spec <file>              the API's OpenAPI 3.0/3.1 document (required)
  --target <url>             base URL of the API to attack, http:// or https:// (required)
  --identity <file>          an identity file (YAML); at least two (required, repeatable)
  --profile safe|full        safe (default): no DELETE/PUT and no write to objects not the identity's own;
                             full: also PUT/PATCH/DELETE of objects another identity created during the scan,
                             and privileged non-GET operations on such objects as a non-privileged identity
  --format text|json|sarif|html  report format (default text)
  --out <file>               write the report to a file instead of stdout
  --fail-on <severity>       exit 1 when a finding is at or above: info|low|medium|high|critical (default medium)
  --rps <n>                  requests per second, at most (default 10)
  --max-requests <n>         requests in total, at most (default 1000); the scan stops and reports when used up
  --timeout-ms <n>           per-request timeout in milliseconds (default 10000)
  --dry-run                  list the planned probes and send nothing
  --insecure-tls             accept a self-signed certificate (loopback targets only)
  -h, --help                 this help

  Exit codes: 0 no finding at or above --fail-on, 1 at least one, 2 usage or configuration error, or a scan
  that did not complete (e.g. the target is unreachable).
`;

function usageError(message: string): number {
  process.stderr.write(`rampart scan: ${message}\n\n${SCAN_USAGE}`);
  return 2;
}

function positiveNumber(flag: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new ScanConfigError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return n;
}

/** Runs `rampart scan` with `args` (after the command name); returns the exit code. `version` goes into SARIF. */
export async function runScanCommand(args: readonly string[], version: string): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(args).values;
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(SCAN_USAGE);
    return 0;
  }
  try {
    if (!values.spec) return usageError('--spec is required');
    if (!values.target) return usageError('--target is required');
    let target: URL;
    try {
      target = new URL(values.target);
    } catch {
      return usageError(`--target is not a URL: "${values.target}"`);
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') return usageError('--target must be an http:// or https:// URL');
    if (target.search || target.hash || target.username || target.password) return usageError('--target takes a base URL without query, fragment or credentials');
    const profile = values.profile ?? 'safe';
    if (profile !== 'safe' && profile !== 'full') return usageError(`--profile must be safe or full, got "${profile}"`);
    const format = values.format ?? 'text';
    if (format !== 'text' && format !== 'json' && format !== 'sarif' && format !== 'html') return usageError(`--format must be text, json, sarif or html, got "${format}"`);
    const failOn = values['fail-on'] ?? 'medium';
    if (!isSeverity(failOn)) return usageError(`--fail-on must be one of info, low, medium, high, critical, got "${failOn}"`);
    if (values['insecure-tls'] && (target.protocol !== 'https:' || !isLoopbackHost(target.hostname))) return usageError('--insecure-tls is for an https:// loopback target (localhost, 127.0.0.1, ::1) only');
    const result = await runScan({
      specFile: values.spec,
      target,
      identityFiles: values.identity ?? [],
      profile,
      rps: positiveNumber('--rps', values.rps, 10, false),
      maxRequests: positiveNumber('--max-requests', values['max-requests'], 1000, true),
      timeoutMs: positiveNumber('--timeout-ms', values['timeout-ms'], 10_000, true),
      insecureTls: values['insecure-tls'] === true,
      dryRun: values['dry-run'] === true,
      ...(process.stderr.isTTY ? { onProgress: drawProgress } : {}),
    });
    if (process.stderr.isTTY && values['dry-run'] !== true) process.stderr.write('\r\x1b[K');
    const output = render(result, format, version);
    if (values.out) writeFileSync(values.out, output);
    else process.stdout.write(output);
    if (values.out && format !== 'text') process.stderr.write(`rampart scan: ${result.findings.length} finding(s), report written to ${values.out}\n`);
    const code = exitCode(result, failOn);
    if (result.errors.length > 0) {
      // A scan that could not run its probes must not pass a CI gate.
      process.stderr.write(`rampart scan: the scan did not complete: ${result.errors.map((e) => `${e.module}: ${e.message}`).join('; ')}\n`);
      return code === 1 ? 1 : 2;
    }
    return code;
  } catch (error) {
    if (error instanceof ScanConfigError || error instanceof IdentityError || error instanceof SpecError) {
      process.stderr.write(`rampart scan: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** A one-line progress bar on a terminal's stderr: modules done, requests sent of the planned upper bound. */
function drawProgress(p: { module: string; index: number; modules: number; requestsSent: number; plannedRequests: number }): void {
  const width = 24;
  const done = Math.round((p.index / p.modules) * width);
  process.stderr.write(`\r\x1b[K[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.module} (${p.requestsSent}/${p.plannedRequests} requests)`);
}

/** 1 when any finding is at or above `failOn`, else 0 (a dry run is always 0). */
export function exitCode(result: ScanResult, failOn: Severity): number {
  return !result.dryRun && findingsAtOrAbove(result.findings, failOn).length > 0 ? 1 : 0;
}

function render(result: ScanResult, format: 'text' | 'json' | 'sarif' | 'html', version: string): string {
  if (format === 'html') return formatHtml(result);
  if (format === 'sarif') return `${JSON.stringify(toSarif(result, version), null, 2)}\n`;
  if (format === 'json') return `${JSON.stringify(result, null, 2)}\n`;
  return result.dryRun ? formatPlan(result) : formatText(result);
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      spec: { type: 'string' },
      target: { type: 'string' },
      identity: { type: 'string', multiple: true },
      profile: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      'fail-on': { type: 'string' },
      rps: { type: 'string' },
      'max-requests': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'dry-run': { type: 'boolean' },
      'insecure-tls': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
    strict: true,
  });
}
