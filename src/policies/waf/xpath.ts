import { needleGroup } from './needles.ts';
import { skipSpaces, skipSpacesBack, someOccurrence } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * XPath injection: node-set functions applied to the document (`count(/`, `name(/*`), axes and wildcards that
 * walk the whole tree (`//*`, `/child::`), and union breakouts (`']|//`). Quote-and-tautology forms such as
 * `' or '1'='1` are shared with SQL and left to the SQL injection detector.
 */

const hit = (rule: string): Hit => ({ family: 'xpath', rule });

const FUNCTIONS = ['count(/', 'name(/', 'local-name(/', 'string-length(/', 'string(/', 'substring(/', 'namespace-uri(/', 'count(//', 'name(//', 'doc(', 'document(/'];
const FUNCTION_GROUP = needleGroup(FUNCTIONS);
const AXES = ['/child::', '/descendant::', '/ancestor::', '/following-sibling::', '/preceding-sibling::', '/parent::', '/self::', '/attribute::', 'descendant-or-self::'];
const AXIS_GROUP = needleGroup(AXES);

export const detectXpath: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  if (probe.groups & FUNCTION_GROUP) return hit('xpath-function');
  if (probe.groups & AXIS_GROUP) return hit('xpath-axis');
  if (quotedUnion(t) || t.includes('//*[') || t.includes('/*[1]') || t.includes('//user[')) return hit('xpath-union');
  if (paranoia >= 2) {
    if (someOccurrence(t, '//*', (at) => at === 0 || t[at - 1] === '|' || t[at - 1] === ' ' || t[at - 1] === "'")) return hit('xpath-union');
    if (t.includes('text()') || t.includes('node()') || t.includes('position()') || t.includes('last()')) return hit('xpath-function');
  }
  return undefined;
};

/** `']|//…`, `"] | //…` with any whitespace (tab, newline) around the `|`: a predicate closed, a union opened. */
function quotedUnion(t: string): boolean {
  return someOccurrence(t, '|', (at) => {
    const close = skipSpacesBack(t, at, 8);
    if (close < 1 || t[close] !== ']' || (t[close - 1] !== "'" && t[close - 1] !== '"')) return false;
    return t.startsWith('//', skipSpaces(t, at + 1, 8));
  }, 4096);
}
