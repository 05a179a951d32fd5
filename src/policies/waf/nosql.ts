import { isWordCode, readWord, skipSpaces, skipSpacesBack, someOccurrence, wordStart } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * NoSQL (MongoDB-style) operator injection: operator keys (`$ne`, `$gt`, `$where`, `$regex` …) as JSON object keys,
 * as `field[$ne]=` query/form keys, or written into a string (`', $where: '1 == 1'`, `{$gt: ''}`); and JavaScript
 * meant for `$where`/`mapReduce` (`db.users.find(`, `this.password.match(`, `sleep(5000)` after a quote, busy loops).
 */

const hit = (rule: string): Hit => ({ family: 'nosql', rule });

export const OPERATORS = new Set([
  'where', 'ne', 'eq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'regex', 'exists', 'or', 'and', 'nor', 'not', 'expr', 'function', 'accumulator',
  'elemmatch', 'type', 'mod', 'all', 'size', 'text', 'jsonschema', 'lookup', 'comment', 'options', 'search', 'set', 'unset', 'push', 'pull', 'inc', 'rename', 'merge', 'out', 'match', 'group',
]);

export const detectNosql: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 2) return undefined;
  if (probe.location === 'key') {
    if (t.charCodeAt(0) === 36 && (OPERATORS.has(t.slice(1)) || paranoia >= 3)) return hit('nosql-operator-key');
  }
  if (t.includes('$')) {
    const operator = someOccurrence(
      t,
      '$',
      (at) => {
        const name = readWord(t, at + 1, 16);
        if (!OPERATORS.has(name)) return false;
        const end = at + 1 + name.length;
        if (isWordCode(t.charCodeAt(end))) return false;
        // `[$ne]=` (qs-style key), `$ne:` / `"$ne":` (object literal), `{$gt` (object opening).
        if (t[at - 1] === '[' && t[end] === ']') return true;
        if (t[skipSpacesBack(t, at, 4)] === '{') return true;
        let j = end;
        if (t[j] === '"' || t[j] === "'") j++;
        j = skipSpaces(t, j, 4);
        return t[j] === ':';
      },
      Number.MAX_SAFE_INTEGER,
    );
    if (operator) return hit('nosql-operator');
  }
  if (someOccurrence(t, 'db.', (at) => wordStart(t, at) && mongoCall(t, at + 3))) return hit('nosql-js-injection');
  if (t.includes('this.') && (t.includes('.match(') || t.includes('.constructor') || t.includes('==')) && (t.includes("'") || t.includes('"'))) return hit('nosql-js-injection');
  if ((t.includes('do{') || t.includes('do {')) && t.includes('while(')) return hit('nosql-js-injection');
  if (someOccurrence(t, 'sleep(', (at) => wordStart(t, at) && quoteOrSemicolonBefore(t, at))) return hit('nosql-js-injection');
  // `'; return true; var x='`, `"; while(true){}; //`: a `$where` string closed, a statement run, the rest re-opened.
  if (someOccurrence(t, ';', (at) => statementAfterQuote(t, at))) return hit('nosql-js-injection');
  if (t.includes('mapreduce(') || t.includes('$function') || t.includes('emit(1')) return hit('nosql-js-injection');
  if (paranoia >= 2 && (t.includes('|| 1==1') || t.includes('||1==1') || t.includes("'=='"))) return hit('nosql-js-injection');
  return undefined;
};

/** `db.<collection>.<method>(` or `db.getCollection(` right after `db.` at `at`. */
function mongoCall(t: string, at: number): boolean {
  const first = readWord(t, at, 64, true);
  if (first === 'getcollection' || first === 'getsiblingdb' || first === 'eval') return t[at + first.length] === '(';
  if (first === '' || t[at + first.length] !== '.') return false;
  const method = readWord(t, at + first.length + 1, 32);
  return method !== '' && t[at + first.length + 1 + method.length] === '(';
}

/** `';sleep(`, `'+sleep(`: the call follows a quote or a statement end (injected), not prose. */
function quoteOrSemicolonBefore(t: string, at: number): boolean {
  for (let i = at - 1; i >= 0 && at - i <= 4; i--) {
    const c = t[i];
    if (c === "'" || c === '"' || c === ';') return true;
    if (c !== ' ' && c !== '+' && c !== '|' && c !== '&') return false;
  }
  return false;
}

/** A quote right before the `;` at `at`, then `return`/`while(`/`throw`, and later another quote or a `//` comment. */
function statementAfterQuote(t: string, at: number): boolean {
  const quote = t[skipSpacesBack(t, at, 4)];
  if (quote !== "'" && quote !== '"') return false;
  const start = skipSpaces(t, at + 1, 4);
  const word = readWord(t, start, 8);
  if (!(word === 'return' || word === 'throw' || ((word === 'while' || word === 'for') && t[skipSpaces(t, start + word.length, 4)] === '('))) return false;
  const rest = t.indexOf(quote, start);
  return rest !== -1 || t.includes('//', start);
}
