import { detectCmd } from './cmd.ts';
import { detectCrlf } from './crlf.ts';
import { probesOf, type ScanBudget } from './decode.ts';
import { detectLdap } from './ldap.ts';
import { detectLog4shell } from './log4shell.ts';
import { detectNosql } from './nosql.ts';
import { detectSqli } from './sqli/index.ts';
import { detectSsrf } from './ssrf.ts';
import { detectSsti } from './ssti.ts';
import { detectTraversal } from './traversal.ts';
import type { Detector, Family, Hit, Location } from './types.ts';
import { detectXpath } from './xpath.ts';
import { detectXss } from './xss.ts';
import { detectXxe } from './xxe.ts';

const detectSqlInjection: Detector = (probe, paranoia) => {
  const found = detectSqli(probe.text, paranoia);
  return found === undefined ? undefined : { family: 'sqli', rule: found.rule };
};

/** Every family's detector. */
export const DETECTORS: Readonly<Record<Family, Detector>> = {
  sqli: detectSqlInjection,
  nosql: detectNosql,
  cmd: detectCmd,
  traversal: detectTraversal,
  ssrf: detectSsrf,
  xss: detectXss,
  ssti: detectSsti,
  ldap: detectLdap,
  xpath: detectXpath,
  crlf: detectCrlf,
  log4shell: detectLog4shell,
  xxe: detectXxe,
};

/** Families scanned in values the contract types as URLs (`format: uri`): the value may be any URL, but not an internal one. */
export const URL_FAMILIES: readonly Family[] = ['ssrf', 'log4shell', 'xss', 'crlf'];

/** A compiled set of detectors: the families a route enables, at its paranoia level. */
export interface Scanner {
  readonly paranoia: number;
  readonly detectors: readonly (readonly [Family, Detector])[];
  readonly urlDetectors: readonly (readonly [Family, Detector])[];
}

/** Builds the scanner for a route (compile time). */
export function createScanner(families: ReadonlySet<Family>, paranoia: number): Scanner {
  const detectors = (Object.entries(DETECTORS) as [Family, Detector][]).filter(([family]) => families.has(family));
  return { paranoia, detectors, urlDetectors: detectors.filter(([family]) => URL_FAMILIES.includes(family)) };
}

/**
 * Scans one value: every decoded form ({@link probesOf}) through every enabled detector; returns the first hit that
 * `skip` does not exclude. `urlOnly` restricts to {@link URL_FAMILIES}. Charges `budget` (throws ScanBudgetError).
 */
export function scanValue(scanner: Scanner, value: string, location: Location, budget: ScanBudget, urlOnly = false, skip?: (hit: Hit) => boolean): Hit | undefined {
  if (value.length === 0) return undefined;
  const detectors = urlOnly ? scanner.urlDetectors : scanner.detectors;
  for (const probe of probesOf(value, location, budget)) {
    for (const [, detect] of detectors) {
      const found = detect(probe, scanner.paranoia);
      if (found && !skip?.(found)) return found;
    }
  }
  return undefined;
}
