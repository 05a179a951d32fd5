/**
 * SQL injection detection for the WAF stage: a tokenizing, fingerprint-style detector in the manner of
 * libinjection (https://github.com/libinjection/libinjection, BSD-3; re-implemented from its published design).
 * The value is read as SQL three ways — as it stands, as if it continued a single-quoted string, as if it
 * continued a double-quoted one — each reading is folded to the type letters of its first tokens, and the
 * letters are looked up in a table of attack shapes (fingerprints.ts).
 */
import { LETTERS, T } from './lexicon.ts';
import { buildTables, SHAPES } from './fingerprints.ts';
import { scan, tokenize } from './tokenize.ts';

export { resetSteps, tokenizerSteps } from './tokenize.ts';

/** A detection: the rule family and the fingerprint (token-type letters, never the input). */
export interface SqliHit {
  /** `sqli.<family>`, e.g. `sqli.tautology`, `sqli.union`, `sqli.stacked` (see fingerprints.ts). */
  readonly rule: string;
  /** Token-type letters of the reading that matched, e.g. `s&1o1c`. */
  readonly fingerprint: string;
}

const { prefix: PREFIX, exact: EXACT } = buildTables(SHAPES);

const SINGLE = 39;
const DOUBLE = 34;

function match(paranoia: number): SqliHit | undefined {
  let code = 0;
  const n = scan.length;
  for (let i = 0; i < n; i++) {
    code = code * 32 + scan.types[i]!;
    const hit = PREFIX.get(code);
    if (hit !== undefined && hit.level <= paranoia) return { rule: hit.rule, fingerprint: letters(n) };
  }
  if (!scan.more && n > 0) {
    const hit = EXACT.get(code);
    if (hit !== undefined && hit.level <= paranoia) return { rule: hit.rule, fingerprint: letters(n) };
  }
  return attackCall(n) ? { rule: 'sqli.attack-call', fingerprint: letters(n) } : undefined;
}

/**
 * An attack call anywhere in the fingerprint (any paranoia level): an always-SQL word (xp_cmdshell, LOAD_FILE), or
 * an English one (SLEEP, BENCHMARK) called with a literal, a variable, a call or a subquery — `SLEEP(5)`, not
 * "sleep (eight hours)".
 */
function attackCall(n: number): boolean {
  for (let i = 0; i < n; i++) {
    if (scan.types[i] !== T.ATTACK) continue;
    if (i + 1 >= n || scan.types[i + 1] !== T.LPAREN) return true;
    if (i + 2 >= n) return scan.more;
    const arg = scan.types[i + 2]!;
    if (arg === T.STRING || arg === T.VARIABLE || arg === T.FUNCTION || arg === T.ATTACK || arg === T.STATEMENT || arg === T.LPAREN) return true;
    if (arg === T.NUMBER) {
      if (i + 3 >= n) return scan.more || i + 3 === n;
      const after = scan.types[i + 3]!;
      if (after === T.RPAREN || after === T.COMMA || after === T.OPERATOR) return true;
    }
  }
  return false;
}

function letters(n: number): string {
  let f = '';
  for (let i = 0; i < n; i++) f += LETTERS[scan.types[i]!];
  return f;
}

/**
 * Whether `value` (already decoded) starts a SQL injection. `paranoia` 1..4 (values outside are clamped): 1 flags
 * only shapes ordinary text cannot take, 4 flags lone SQL words. Never throws; linear time in the length of
 * `value` (at most three bounded readings, each stopping when its fingerprint is full).
 */
export function detectSqli(value: string, paranoia: number): SqliHit | undefined {
  const level = paranoia >= 4 ? 4 : paranoia >= 1 ? Math.floor(paranoia) : 1;
  const hit = readings(value, level, false);
  // MySQL reads `--` as a comment only before whitespace: `1 --1 UNION SELECT …` hides nothing from it.
  return hit !== undefined || !gluedDashes(value) ? hit : readings(value, level, true);
}

function readings(value: string, level: number, mysqlDashes: boolean): SqliHit | undefined {
  tokenize(value, 0, mysqlDashes);
  let hit = match(level);
  if (hit !== undefined) return hit;
  // A quote context is only worth reading when the value holds that quote: without it the reading is one string.
  if (value.indexOf("'") >= 0) {
    tokenize(value, SINGLE, mysqlDashes);
    hit = match(level);
    if (hit !== undefined) return hit;
  }
  if (value.indexOf('"') >= 0) {
    tokenize(value, DOUBLE, mysqlDashes);
    hit = match(level);
  }
  return hit;
}

/** Whether `value` holds a `--` followed by something other than whitespace (bounded: the first 64 `--`). */
function gluedDashes(value: string): boolean {
  let at = value.indexOf('--');
  for (let k = 0; at !== -1 && k < 64; k++) {
    const c = value.charCodeAt(at + 2);
    if (at + 2 < value.length && !(c === 32 || (c >= 9 && c <= 13))) return true;
    at = value.indexOf('--', at + 2);
  }
  return false;
}

/** The fingerprints of the three readings of `value` (for tests, tuning and the `rampart check` explain output). */
export function sqliFingerprints(value: string): { none: string; single: string; double: string } {
  tokenize(value, 0);
  const none = letters(scan.length);
  tokenize(value, SINGLE);
  const single = letters(scan.length);
  tokenize(value, DOUBLE);
  return { none, single, double: letters(scan.length) };
}
