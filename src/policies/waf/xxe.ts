import { groupsIn } from './needles.ts';
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
    // XML whitespace is also tab, CR and LF: `<!DOCTYPE x\nSYSTEM "…">`.
    const decl = t.slice(at, end === -1 ? Math.min(t.length, at + 512) : Math.min(end, at + 512)).replace(/[\t\n\r]/g, ' ');
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
  return detectXxe({ text, lower, punct: punctuationMask(text), groups: groupsIn(lower), location: 'body' }, 1);
}

/**
 * Calls `visit` with each text node, CDATA section and attribute value of an XML document, in order: the values an
 * application reads out of it and may put into a query, a command or a page. Comments, processing instructions and
 * declarations are skipped. One forward pass (every `indexOf` starts where the last one stopped): linear.
 */
export function xmlValues(text: string, visit: (value: string) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const lt = text.indexOf('<', i);
    const textEnd = lt === -1 ? n : lt;
    if (textEnd > i) visitNonBlank(text, i, textEnd, visit);
    if (lt === -1) return;
    if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9);
      visitNonBlank(text, lt + 9, end === -1 ? n : end, visit);
      i = end === -1 ? n : end + 3;
      continue;
    }
    const skipTo = text.startsWith('<!--', lt) ? '-->' : text.startsWith('<?', lt) ? '?>' : undefined;
    if (skipTo !== undefined) {
      const end = text.indexOf(skipTo, lt + 2);
      i = end === -1 ? n : end + skipTo.length;
      continue;
    }
    // A tag: its quoted attribute values, up to the `>` outside quotes.
    let j = lt + 1;
    while (j < n && text.charCodeAt(j) !== 62) {
      const c = text.charCodeAt(j);
      if (c === 34 || c === 39) {
        const close = text.indexOf(c === 34 ? '"' : "'", j + 1);
        const end = close === -1 ? n : close;
        visitNonBlank(text, j + 1, end, visit);
        j = end + 1;
        continue;
      }
      j++;
    }
    i = j + 1;
  }
}

function visitNonBlank(text: string, from: number, to: number, visit: (value: string) => void): void {
  for (let k = from; k < to; k++) {
    const c = text.charCodeAt(k);
    if (!(c === 32 || c === 9 || c === 10 || c === 13)) {
      visit(text.slice(from, to));
      return;
    }
  }
}
