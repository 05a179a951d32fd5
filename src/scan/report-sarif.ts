/**
 * SARIF 2.1.0 for code scanning: one rule per probe kind (with help text and the fix), one result per finding,
 * its level from the severity, located at the operation in the spec file (line of its `operationId`).
 */
import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { RULES } from './rules.ts';
import type { ScanResult } from './run.ts';
import type { Finding, Severity } from './types.ts';

/** SARIF `level` for a severity. */
export function sarifLevel(severity: Severity): 'error' | 'warning' | 'note' {
  return severity === 'critical' || severity === 'high' ? 'error' : severity === 'medium' ? 'warning' : 'note';
}

/** GitHub code scanning's `security-severity` (0.0–10.0) for a severity. */
export function securitySeverity(severity: Severity): string {
  return { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '0.0' }[severity];
}

/** 1-based line of `operationId: <id>` in the spec text, or undefined. */
export function operationLine(specText: string, operationId: string): number | undefined {
  const lines = specText.split('\n');
  const escaped = operationId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`["']?operationId["']?\\s*:\\s*["']?${escaped}["']?\\s*,?\\s*$`);
  const index = lines.findIndex((line) => pattern.test(line.trim()));
  return index === -1 ? undefined : index + 1;
}

function location(finding: Finding, uri: string, specText: string | undefined) {
  const line = finding.operation && specText ? operationLine(specText, finding.operation) : undefined;
  return {
    physicalLocation: { artifactLocation: { uri }, region: { startLine: line ?? 1 } },
    logicalLocations: [{ name: finding.operation ?? finding.endpoint, fullyQualifiedName: finding.endpoint, kind: 'function' }],
  };
}

/** The SARIF log of a scan. `version` is Rampart's version. */
export function toSarif(result: ScanResult, version: string, cwd = process.cwd()): Record<string, unknown> {
  let specText: string | undefined;
  try {
    specText = readFileSync(result.specFile, 'utf8');
  } catch {
    specText = undefined;
  }
  const uri = relative(cwd, result.specFile).split(sep).join('/');
  const rules = Object.values(RULES);
  const index = new Map(rules.map((r, i) => [r.id, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'rampart-scan',
            version,
            informationUri: 'https://rampart.dev/docs/scan',
            rules: rules.map((r) => ({
              id: r.id,
              name: r.title.replace(/[^A-Za-z0-9]+/g, ' ').trim().replace(/ (\w)/g, (_, c: string) => c.toUpperCase()),
              shortDescription: { text: r.title },
              fullDescription: { text: r.help },
              help: { text: `${r.help}\n\nFix: ${r.fix}`, markdown: `${r.help}\n\n**Fix:** ${r.fix}` },
              defaultConfiguration: { level: sarifLevel(r.severity) },
              properties: { tags: ['security', 'owasp-api-top-10', r.category], 'security-severity': securitySeverity(r.severity), precision: 'high' },
            })),
          },
        },
        invocations: [{ executionSuccessful: result.errors.length === 0, startTimeUtc: result.startedAt, endTimeUtc: result.finishedAt }],
        results: result.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: index.get(f.rule) ?? -1,
          level: sarifLevel(f.severity),
          message: { text: `${f.title}: ${f.detail}` },
          locations: [location(f, uri, specText)],
          partialFingerprints: { rampartFindingId: f.id },
          properties: { severity: f.severity, category: f.category, endpoint: f.endpoint, target: result.target, fix: f.fix, evidence: f.evidence },
        })),
      },
    ],
  };
}
