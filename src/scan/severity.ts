import { SEVERITIES, type Finding, type Severity } from './types.ts';

/** Whether `value` is one of the severity names. */
export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

/** Rank of a severity: info 0 … critical 4. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** The findings at or above `threshold` (what makes `rampart scan` exit 1). */
export function findingsAtOrAbove(findings: readonly Finding[], threshold: Severity): Finding[] {
  const min = severityRank(threshold);
  return findings.filter((f) => severityRank(f.severity) >= min);
}

/** Findings sorted most severe first, then by rule and id (a stable report order). */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.rule.localeCompare(b.rule) || a.id.localeCompare(b.id));
}
