/**
 * The known-malicious fingerprint shapes, written as a grammar of attack shapes rather than a list of observed
 * fingerprints. Each shape is a short pattern over token letters (see LETTERS in lexicon.ts):
 *
 * - a letter stands for itself;
 * - `[abc]` is one token of any of those types, `{abc}` is an optional one;
 * - a trailing `$` means the value ends there (nothing but perhaps a comment follows); without it the shape is a
 *   prefix: the value starts like this, whatever comes after.
 *
 * Shapes are expanded once at load into two maps from fingerprint code to the lowest paranoia level that flags
 * it. A fingerprint always starts at the start of the value, because the value is what the attacker controls:
 * `s` is the application's string the quote closed, `1`/`n` the application's number or name the value replaces.
 *
 * Paranoia 1 holds the shapes that are SQL syntax an ordinary sentence cannot take: a quote closed then a
 * logic operator and a comparison, a set operator then SELECT, a stacked statement, a comment that cuts the query
 * right after a quote. Level 2 adds shapes that start with a bare word (prose can start so), level 3 any keyword
 * after a quote break, level 4 lone SQL words.
 */
import { LETTERS } from './lexicon.ts';
import { MAX_TOKENS } from './tokenize.ts';

/** One attack shape family. */
export interface Shape {
  readonly rule: string;
  readonly level: 1 | 2 | 3 | 4;
  readonly shapes: readonly string[];
  /** The attack the shape stands for. */
  readonly why: string;
}

// Where an injection starts: the quote it closed (s), the number (1) or a closing parenthesis of the
// application's expression, possibly after the value; nesting depth is folded, so one `)` stands for many.
const BREAK = '[s1)]{)}';
// A value an operator compares.
const VALUE = '[1sv]';
const VALUE_OR_NAME = '[1snv]';

/** The table. Order does not matter; a fingerprint gets the lowest level of any shape it matches. */
export const SHAPES: readonly Shape[] = [
  // Tautologies and boolean probes: ' OR 1=1, ' OR 'a'='a, 1) AND (2>1, x' AND email IS NULL, ' OR a LIKE '%.
  { rule: 'sqli.tautology', level: 1, shapes: [`${BREAK}&{(}${VALUE_OR_NAME}o`], why: "' OR 'a'='a — a boolean that makes WHERE true or probes it" },
  { rule: 'sqli.tautology', level: 1, shapes: [`&{(}${VALUE}o[1sv(]`], why: ' OR 1=1 appended to a number or name without a quote' },
  { rule: 'sqli.tautology', level: 1, shapes: [`n{)}&{(}[1s]o[1s]`], why: 'admin OR 1=1 — tautology on literals after a name' },
  { rule: 'sqli.tautology', level: 1, shapes: ['&{(}no[1snv]{c}$', `${BREAK}&{(}${VALUE}{)}o`, 'n[s)]{)}&{(}[1s]o', 'sns{)}&{(}[1sv]o', '&{(}[1sv]o[of]', '[;k]{n}{k}&{(}[1sv]o', 'k{n}{k}1o1', `${BREAK}&{(}no[fX]`, '&{(}no[fX]'], why: ' OR x=x, WHERE 1=1 AND 1=1, AND 1=LIKE(…), AND 5=CONVERT(…) — tautologies and comparisons against calls' },
  { rule: 'sqli.tautology', level: 2, shapes: [`n{)}&{(}${VALUE_OR_NAME}o`], why: 'hi OR a=a — comparison of names after a name' },
  // A truthy operand then the query cut off: ' OR 1--, ' OR TRUE#, ' OR 1;--.
  { rule: 'sqli.truthy-comment', level: 1, shapes: ['{s1)}{)}&[1s][c;]'], why: "' OR TRUE-- — truthy value, rest of the query commented out" },
  { rule: 'sqli.truthy-comment', level: 1, shapes: ['s{)}&s$', 'sos&'], why: "'or' / '=' 'or — a logic operator between the application's own quotes" },
  { rule: 'sqli.truthy-comment', level: 2, shapes: ['s{)}&[1s]$', 'n{)}&1[c;]', '&1$'], why: "' OR '  / 'or'1=1 — the application's own quote closes the value" },
  // Function or subquery in a boolean: ' AND SLEEP(5), 1 OR BENCHMARK(…), ' AND EXTRACTVALUE(…), ' OR (SELECT …).
  { rule: 'sqli.boolean-function', level: 1, shapes: [`${BREAK}&{(}[fE]`, '&{(}f(', '&(E'], why: "' AND SLEEP(5) — time-based or error-based blind through a function or subquery" },
  { rule: 'sqli.boolean-function', level: 1, shapes: ['s&n(s', `${BREAK}&(k`, 'f(1o1)'], why: "' || pkg.fn('x') / ' OR (EXISTS …) / IF(1=1) — a call or subquery in the application's condition" },
  { rule: 'sqli.boolean-function', level: 1, shapes: ['X(n)[c;]'], why: 'SLEEP(__TIME__)# — a time delay around a placeholder, the rest of the query cut off' },
  { rule: 'sqli.boolean-function', level: 2, shapes: ['n{)}&{(}[fE]', `${BREAK}&n(`, 'X(n)$'], why: 'admin AND SLEEP(5), a user function after a quote, SLEEP(x) as the value' },
  // Union-based extraction: ' UNION SELECT, 1 UNION ALL SELECT, ) UNION (SELECT.
  { rule: 'sqli.union', level: 1, shapes: [`${BREAK}U{(}E`, `${BREAK}o{(}U`, 'U{(}E[1svfo(k]', 'U{(}E$'], why: "' UNION SELECT — a second query's rows appended to the application's" },
  { rule: 'sqli.union', level: 2, shapes: ['n{)}U{(}E', 'UEn'], why: 'x UNION SELECT col — union after a name (prose can start with a word)' },
  // Column-count probing and error-based grouping: ' ORDER BY 3--, 1 GROUP BY x HAVING 1=1, ORDER BY SLEEP(5).
  { rule: 'sqli.order-by', level: 1, shapes: [`${BREAK}B[1nf]`, 'B1[c;,]', 'B1$', 'Bf(', 'B1o1', 'BnB'], why: "' ORDER BY 3-- — column-count probe; HAVING 1=1 — error-based" },
  { rule: 'sqli.order-by', level: 2, shapes: ['B1', 'n{)}B[1f]'], why: 'ORDER BY 1 followed by more' },
  { rule: 'sqli.order-by', level: 3, shapes: ['Bn'], why: 'ORDER BY name' },
  // Stacked queries: '; DROP TABLE users--, 1; EXEC xp_cmdshell, '; DESC users.
  { rule: 'sqli.stacked', level: 1, shapes: [`${BREAK};[ETk]`, ';[ET][nvs1(oT]', `${BREAK};c$`, ';{(}&[1sv]o', 'vE'], why: "'; DROP TABLE t-- — a second statement after the first" },
  { rule: 'sqli.stacked', level: 1, shapes: ['s{)};n[o(f]'], why: "'; IF NOT(…) WAITFOR … — a statement the lexicon does not know, after the closed quote" },
  { rule: 'sqli.stacked', level: 2, shapes: ['n{)};[ET]', `${BREAK};{(}f(`, ';c$', ';[ET]'], why: 'x; SELECT …, 1;(LOAD_FILE(…))' },
  // T-SQL statements after a break, MSSQL runs them without a separator: ' WAITFOR DELAY '0:0:5', 1 EXEC …,
  // DECLARE @s …, EXEC(@s).
  { rule: 'sqli.tsql', level: 1, shapes: [`${BREAK}T`, 'T[sv(]', '[s)]{)},[1sv]{)}[T,)]', ',[1sv]{)}T', ',[1sv],[1sv][,)]'], why: "' WAITFOR DELAY '0:0:5'-- — a T-SQL statement injected" },
  { rule: 'sqli.tsql', level: 2, shapes: ['Tn', 'nT[svn(]'], why: 'EXEC master..xp_cmdshell as a whole value' },
  // The query cut off right after the quote: admin'--, admin')#, admin'/*.
  { rule: 'sqli.comment', level: 1, shapes: ['s{)}c$'], why: "admin'-- — the rest of the application's condition (the password check) commented out" },
  { rule: 'sqli.comment', level: 3, shapes: ['[1n]{)}c$'], why: 'admin -- after a bare word or number' },
  // Arithmetic and concatenation on the closed string: '='  '-'  '+IF(BENCHMARK(…))  '||(SELECT …)  ',(SELECT …).
  { rule: 'sqli.string-operator', level: 1, shapes: ['sos$', 's{)}o{(}[fE]', `${BREAK},{(}[fE]`, ',{(}E', `${BREAK}o(E`], why: "'-' / '=' — the compared string made an expression; ',(SELECT …) in ORDER BY" },
  { rule: 'sqli.string-operator', level: 2, shapes: ['so[1sn]o', ',{(}f('], why: "'=' 'or' — expressions on quoted strings" },
  // A whole statement as the value (the application runs or embeds it): SELECT * FROM t, SELECT @@version,
  // (SELECT GROUP_CONCAT(…) FROM …), SELECT 1,2,3.
  { rule: 'sqli.statement', level: 1, shapes: ['{(}Eo[kf,]', '{(}E[vf]', '{(}E1,', '(E[1svo(]', `s{)}{(}E[1vfo(k,]`, 's{)}{(}Enk', 's{)}E{n}n;', 'En;$', `s{)}(E`, 'o(E', 'Enknk', 'E{n}nkn;', 'En,nk', 'En,nkn'], why: 'SELECT * FROM users / SELECT @@version — a query where a value belongs' },
  { rule: 'sqli.statement', level: 2, shapes: ['(En', `[1)]{)}{(}E`, 'Enk', 'En(', 'Enf(', 'Enkn', 'En,n,n'], why: 'INSERT INTO t VALUES(…), UPDATE t SET …, SELECT a FROM t' },
  { rule: 'sqli.statement', level: 3, shapes: ['E[1n]', 'En,', 'Ek'], why: 'SELECT col, SELECT 1 — SQL-looking text that may be documentation' },
  // Level 3: any SQL keyword, logic operator, function, comment or statement end right after a quote break.
  { rule: 'sqli.keyword-after-break', level: 3, shapes: ['s{)}[&UEBTfk;c]', '[1)]{)}[&UEBT;]', '[1sn]{)}&{(}[1snvf(]'], why: "x' AND …, 1 UNION … — SQL syntax right after the value" },
  // Level 4: lone SQL words and operators that only make sense as SQL.
  { rule: 'sqli.loose', level: 4, shapes: ['[&UEBT]', '[s1n]{)}[&U]', 's[o,(]', 'nc$', '1c$', 'v'], why: 'OR …, UNION …, SELECT … at the start of a value' },
];

/** Fingerprint code → lowest level and its rule, for shapes that match a prefix and for shapes that end. */
export interface ShapeTables {
  readonly prefix: ReadonlyMap<number, { level: number; rule: string }>;
  readonly exact: ReadonlyMap<number, { level: number; rule: string }>;
}

/** Code of a fingerprint: 5 bits per letter, the first letter highest. Unique per length (letters are 1..31). */
export function encode(fingerprint: string): number {
  let code = 0;
  for (const ch of fingerprint) {
    const t = LETTERS.indexOf(ch);
    if (t < 1) throw new Error(`sqli fingerprints: unknown token letter ${JSON.stringify(ch)}`);
    code = code * 32 + t;
  }
  return code;
}

/** Expands one shape into concrete fingerprints (each at most MAX_TOKENS letters) and whether it must end. */
export function expand(shape: string): { fingerprints: string[]; exact: boolean } {
  const exact = shape.endsWith('$');
  const body = exact ? shape.slice(0, -1) : shape;
  const positions: Array<{ options: string; optional: boolean }> = [];
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === '[' || ch === '{') {
      const close = body.indexOf(ch === '[' ? ']' : '}', i);
      if (close < 0) throw new Error(`sqli fingerprints: unclosed ${ch} in ${shape}`);
      positions.push({ options: withAttackCalls(body.slice(i + 1, close)), optional: ch === '{' });
      i = close;
    } else {
      positions.push({ options: withAttackCalls(ch), optional: false });
    }
  }
  let acc = [''];
  for (const { options, optional } of positions) {
    const next: string[] = optional ? [...acc] : [];
    for (const prefix of acc) for (const o of options) next.push(prefix + o);
    acc = next;
  }
  const fingerprints = new Set<string>();
  for (const f of acc) {
    for (const ch of f) encode(ch); // validates letters
    if (exact && f.length > MAX_TOKENS) continue; // cannot end within the fingerprint: never matches as exact
    fingerprints.add(f.slice(0, MAX_TOKENS));
  }
  return { fingerprints: [...fingerprints], exact };
}

/** `f` in a shape is any call: a function (f) or an attack call (X). */
function withAttackCalls(options: string): string {
  return options.includes('f') && !options.includes('X') ? `${options}X` : options;
}

/** Builds the lookup tables from a shape table. */
export function buildTables(shapes: readonly Shape[]): ShapeTables {
  const prefix = new Map<number, { level: number; rule: string }>();
  const exact = new Map<number, { level: number; rule: string }>();
  for (const family of shapes) {
    for (const shape of family.shapes) {
      const { fingerprints, exact: isExact } = expand(shape);
      const into = isExact ? exact : prefix;
      for (const f of fingerprints) {
        const code = encode(f);
        const had = into.get(code);
        if (had === undefined || had.level > family.level) into.set(code, { level: family.level, rule: family.rule });
      }
    }
  }
  return { prefix, exact };
}
