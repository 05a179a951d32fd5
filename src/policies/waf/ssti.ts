import { isLetterCode, isSpaceCode, isWordCode, readWord, skipSpaces, someOccurrence } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * Server-side template injection: template delimiters (`{{ }}`, `${ }`, `#{ }`, `*{ }`, `{% %}`, `<%= %>`,
 * `<#assign>`) whose content is an expression rather than a placeholder name. `{{first_name}}` in marketing text is
 * a placeholder and passes at level 1; `{{7*7}}`, `${T(java.lang.Runtime)}`, `{{''.__class__}}` are expressions.
 */

const hit = (rule: string): Hit => ({ family: 'ssti', rule });

/** Longest template expression looked into, in characters. */
const MAX_EXPRESSION = 256;
const OBJECTS = ['config', 'self', 'request', 'lipsum', 'cycler', 'joiner', 'namespace', 'range', 'getclass', 'class', 'runtime', 'exec', 'popen', 'import', 'system', 'process', 'eval', 'forname', 'getmethod', 'invoke', 'new'];

export const detectSsti: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  if (t.includes('<#assign') || t.includes('?new(') || t.includes('freemarker.template') || t.includes('<#import') || t.includes('${class.') || t.includes('#set(')) return hit('ssti-directive');
  if (t.includes('<%=') || (t.includes('<%') && t.includes('%>'))) return hit('ssti-erb');
  for (const [open, close] of [['{{', '}}'], ['${', '}'], ['#{', '}'], ['*{', '}'], ['@{', '}'], ['{%', '%}']] as const) {
    let found: Hit | undefined;
    // The next `close` at or after the last lookup: occurrences come in increasing order, so the text is searched
    // for `close` once overall rather than once per `open` (a value of repeated `{%` without `%}` is otherwise
    // re-searched to its end from each of them).
    let nextClose = -2;
    someOccurrence(
      t,
      open,
      (at) => {
        const from = at + open.length;
        if (nextClose !== -1 && nextClose < from) nextClose = t.indexOf(close, from);
        const end = nextClose;
        const content = t.slice(from, end === -1 ? Math.min(t.length, from + MAX_EXPRESSION) : Math.min(end, from + MAX_EXPRESSION));
        // `${jndi:…}` is the log4shell family's; an unclosed `{{` is text.
        if (open === '${' && (content.startsWith('jndi') || content.includes(':'))) return false;
        if (end === -1 && paranoia < 3) return false;
        if (isExpression(content, open === '{%')) return (found = hit('ssti-expression')), true;
        if (paranoia >= 3 && content.trim() !== '') return (found = hit('ssti-template-syntax')), true;
        return false;
      },
      // Each occurrence reads at most MAX_EXPRESSION characters, so occurrences are bounded.
      4096,
    );
    if (found) return found;
  }
  return undefined;
};

/** Content that computes: arithmetic between numbers, calls, indexing, dunders, quotes, known objects, statements. */
function isExpression(content: string, statement: boolean): boolean {
  if (content.includes('__') || content.includes('(') || content.includes('[') || content.includes("'") || content.includes('"')) return true;
  let prevDigit = false;
  let pendingOp = false;
  for (let i = 0; i < content.length; i++) {
    const c = content.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (pendingOp) return true;
      prevDigit = true;
    } else if (c === 42 || c === 43 || c === 45 || c === 47 || c === 37) {
      pendingOp = prevDigit;
      prevDigit = false;
    } else if (!isSpaceCode(c)) {
      prevDigit = false;
      pendingOp = false;
    }
  }
  for (const name of OBJECTS) {
    const at = content.indexOf(name);
    if (at !== -1 && (at === 0 || !isWordCode(content.charCodeAt(at - 1))) && !isLetterCode(content.charCodeAt(at + name.length))) {
      if (name === 'new' || name === 'range' || name === 'class') continue;
      return true;
    }
  }
  if (statement) {
    const word = readWord(content, skipSpaces(content, 0));
    return ['import', 'include', 'set', 'exec', 'load', 'debug', 'extends', 'macro', 'call'].includes(word);
  }
  return false;
}
