import { punctuationMask, skipSpaces, someOccurrence } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * XML external entities and external resource inclusion: document type declarations with external identifiers
 * or internal subsets (`<!DOCTYPE x SYSTEM …>`, `<!DOCTYPE x [ <!ENTITY … SYSTEM …> ]>`), entity declarations,
 * XInclude and remote `schemaLocation`s, and XML declared in UTF-7 (which hides all of that from byte scanners).
 * For XML request bodies the WAF refuses any DOCTYPE at all ({@link refuseXmlBody}); in other text this detector
 * looks for the declarations that make a parser fetch or expand something.
 */

const hit = (rule: string): Hit => ({ family: 'xxe', rule });

export const detectXxe: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (!t.includes('<') && !t.includes('+adw')) return undefined;
  if (t.includes('<!entity')) return hit('xxe-entity');
  const doctype = someOccurrence(t, '<!doctype', (at) => {
    const end = t.indexOf('>', at);
    const decl = t.slice(at, end === -1 ? Math.min(t.length, at + 512) : Math.min(end, at + 512));
    return decl.includes(' system') || decl.includes(' public') || decl.includes('[');
  });
  if (doctype) return hit('xxe-doctype');
  if (t.includes('xinclude') || t.includes('<xi:include') || t.includes('<xs:include') || t.includes('<xs:import') || t.includes('schemalocation=')) return hit('xxe-external-include');
  if (someOccurrence(t, 'encoding=', (at) => {
    const value = t.slice(skipSpaces(t, at + 9, 2), at + 18);
    return value.includes('utf-7') || value.includes('utf7');
  }) || t.includes('+adwaiq-')) return hit('xxe-utf7');
  if (paranoia >= 2 && t.includes('<!doctype')) return hit('xxe-doctype');
  return undefined;
};

/**
 * Verdict on a whole XML request body: any DOCTYPE (the application has no reason to accept one, and every XXE and
 * billion-laughs attack needs one), an ENTITY declaration, or a declared encoding other than UTF-8/UTF-16.
 */
export function refuseXmlBody(text: string): Hit | undefined {
  const lower = text.toLowerCase();
  if (lower.includes('<!doctype')) return hit('xxe-doctype');
  if (lower.includes('<!entity')) return hit('xxe-entity');
  return detectXxe({ text, lower, punct: punctuationMask(text), location: 'body' }, 1);
}
