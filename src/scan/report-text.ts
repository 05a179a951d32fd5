/** The terminal report: counts per severity and category, then each finding with its evidence and fix. */
import type { ScanResult } from './run.ts';
import { SEVERITIES, OWASP_CATEGORIES, type Evidence, type OwaspCategory } from './types.ts';

function evidenceLines(evidence: Evidence): string[] {
  const { request, response } = evidence;
  const lines = [`    > ${request.method} ${request.url}`];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`    > ${name}: ${value}`);
  if (request.body) lines.push(`    > ${request.body}`);
  lines.push(`    < ${response.status}`);
  for (const [name, value] of Object.entries(response.headers)) lines.push(`    < ${name}: ${value.replace(/\n/g, ' | ')}`);
  if (response.body) lines.push(`    < ${response.body.replace(/\n/g, ' ')}`);
  return lines;
}

/** The plan of a dry run, one probe per line. */
export function formatPlan(result: ScanResult): string {
  const lines = [`Dry run: ${result.planned.length} probes planned against ${result.target} (profile ${result.profile}, at most ${result.plannedRequests} requests before --max-requests); nothing sent.`, ''];
  for (const p of result.planned) {
    lines.push(`  ${p.rule.padEnd(30)} ${p.endpoint}${p.identity ? ` as ${p.identity}` : ''}${p.victim ? ` (objects of ${p.victim})` : ''}: ${p.description}${p.destructive ? ' [destructive]' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The text report of a finished scan. */
export function formatText(result: ScanResult): string {
  const counts = SEVERITIES.map((s) => [s, result.findings.filter((f) => f.severity === s).length] as const).reverse();
  const lines = [
    `rampart scan: ${result.target} (spec ${result.specFile}, profile ${result.profile})`,
    `${result.findings.length} finding(s): ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}; ${result.requestsSent} requests sent, ${result.learnt.objects} objects and ${result.learnt.responses} responses learnt.`,
  ];
  if (result.stoppedEarly) lines.push(`Stopped early: ${result.stoppedEarly}.${/budget/.test(result.stoppedEarly) ? ' Raise --max-requests to run every planned probe.' : ''}`);
  for (const e of result.errors) lines.push(`Probe module ${e.module} failed: ${e.message}`);
  for (const n of result.notes) lines.push(`Not probed: ${n}`);
  const byCategory = new Map<OwaspCategory, number>();
  for (const f of result.findings) byCategory.set(f.category, (byCategory.get(f.category) ?? 0) + 1);
  if (byCategory.size > 0) {
    lines.push('', 'By category:');
    for (const category of Object.keys(OWASP_CATEGORIES) as OwaspCategory[]) {
      const n = byCategory.get(category);
      if (n) lines.push(`  ${category.padEnd(11)} ${OWASP_CATEGORIES[category]}: ${n}`);
    }
  }
  for (const f of result.findings) {
    lines.push('', `[${f.severity.toUpperCase()}] ${f.category} ${f.title}`, `  ${f.endpoint}${f.operation ? ` (${f.operation})` : ''}  rule ${f.rule}`, `  ${f.detail}`);
    for (const e of f.evidence) lines.push(...evidenceLines(e));
    lines.push(`  Fix: ${f.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
