import { detectCmd } from './cmd.ts';
import { detectCrlf } from './crlf.ts';
import { probesOf, ScanBudgetError, type ScanBudget } from './decode.ts';
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

/** Clean verdicts kept per scanner: values at most this long, at most this many (then all are dropped). */
const CLEAN_MAX_CHARS = 256;
export const CLEAN_MAX_ENTRIES = 4096;

/** A compiled set of detectors: the families a route enables, at its paranoia level. */
export interface Scanner {
  readonly paranoia: number;
  readonly detectors: readonly (readonly [Family, Detector])[];
  readonly urlDetectors: readonly (readonly [Family, Detector])[];
  /** Clean verdicts of the full detector set, and of the URL families only. */
  readonly clean: CleanVerdicts;
  readonly cleanUrl: CleanVerdicts;
}

/**
 * Short values found clean, by location and detector set, with the budget their scan charged. The same
 * User-Agent, Accept or id arrives on most requests; a verdict is a pure function of the value, the location and
 * the detectors, so it is reused, charging the budget exactly what the scan did. A flood of distinct values only
 * refills it (bounded; cleared when full), and a value with a hit is never kept.
 */
export class CleanVerdicts {
  readonly #byLocation = new Map<Location, Map<string, number>>();
  #entries = 0;

  get size(): number {
    return this.#entries;
  }

  charged(location: Location, value: string): number | undefined {
    return this.#byLocation.get(location)?.get(value);
  }

  keep(location: Location, value: string, charged: number): void {
    if (this.#entries >= CLEAN_MAX_ENTRIES) {
      this.#byLocation.clear();
      this.#entries = 0;
    }
    let values = this.#byLocation.get(location);
    if (values === undefined) {
      values = new Map();
      this.#byLocation.set(location, values);
    }
    values.set(value, charged);
    this.#entries++;
  }
}

/** Builds the scanner for a route (compile time). */
export function createScanner(families: ReadonlySet<Family>, paranoia: number): Scanner {
  const detectors = (Object.entries(DETECTORS) as [Family, Detector][]).filter(([family]) => families.has(family));
  return { paranoia, detectors, urlDetectors: detectors.filter(([family]) => URL_FAMILIES.includes(family)), clean: new CleanVerdicts(), cleanUrl: new CleanVerdicts() };
}

/**
 * Scans one value: every decoded form ({@link probesOf}) through every enabled detector; returns the first hit that
 * `skip` does not exclude. `urlOnly` restricts to {@link URL_FAMILIES}. Charges `budget` (throws ScanBudgetError).
 */
export function scanValue(scanner: Scanner, value: string, location: Location, budget: ScanBudget, urlOnly = false, skip?: (hit: Hit) => boolean): Hit | undefined {
  if (value.length === 0) return undefined;
  // With `skip` a verdict also depends on the exclusions: not kept.
  const cacheable = skip === undefined && value.length <= CLEAN_MAX_CHARS;
  const verdicts = urlOnly ? scanner.cleanUrl : scanner.clean;
  if (cacheable) {
    const charged = verdicts.charged(location, value);
    if (charged !== undefined) {
      budget.remaining -= charged;
      if (budget.remaining < 0) throw new ScanBudgetError();
      return undefined;
    }
  }
  const before = budget.remaining;
  const detectors = urlOnly ? scanner.urlDetectors : scanner.detectors;
  for (const probe of probesOf(value, location, budget)) {
    for (const [, detect] of detectors) {
      const found = detect(probe, scanner.paranoia);
      if (found && !skip?.(found)) return found;
    }
  }
  if (cacheable) verdicts.keep(location, value, before - budget.remaining);
  return undefined;
}
