/**
 * Tokenizer and folder of the SQL injection detector: reads a value as the start of a SQL fragment and reduces it
 * to the type letters of its first {@link MAX_TOKENS} folded tokens, in the manner of libinjection (Nick Galbreath,
 * BSD-3; re-implemented here from its published description, no code taken). One pass, no backtracking: every
 * character is read a bounded number of times (a lookahead for `(` after a function name, and one retry of a
 * short comment-joined word), and the scan stops as soon as the fingerprint is full.
 *
 * The scan state lives in module-level typed arrays: detection is synchronous and never re-entered, and this keeps
 * the per-call work free of allocation.
 */
import type { Entry } from './lexicon.ts';
import { ARITH_WORDS, H1_SEED, H2_SEED, hash1, hash2, lookup, MAX_WORD, PAIRS, T } from './lexicon.ts';

/** Tokens kept in a fingerprint. Six letters of 5 bits fit one small integer. */
export const MAX_TOKENS = 6;

/** The folded token types of the last scan, `length` of them; `more` when tokens followed the last kept one. */
export const scan = {
  types: new Uint8Array(MAX_TOKENS),
  length: 0,
  more: false,
};

const ids = new Int32Array(MAX_TOKENS);
const arith = new Uint8Array(MAX_TOKENS);
let pendingComment = false;

let steps = 0;
/** Characters examined by the tokenizer since the last {@link resetSteps} (a work measure for tests). */
export function tokenizerSteps(): number {
  return steps;
}
/** Resets the {@link tokenizerSteps} counter. */
export function resetSteps(): void {
  steps = 0;
}

// Character classes for ASCII.
const SPACE = 1;
const WORD = 2; // may start a word
const DIGIT = 3;
const WORD_PART = 4; // continues a word, cannot start one ($)
const CLASS = new Uint8Array(128);
for (let c = 0; c < 33; c++) CLASS[c] = SPACE;
CLASS[127] = SPACE;
for (let c = 48; c < 58; c++) CLASS[c] = DIGIT;
for (let c = 65; c < 91; c++) CLASS[c] = WORD;
for (let c = 97; c < 123; c++) CLASS[c] = WORD;
CLASS[95] = WORD; // _
CLASS[36] = WORD_PART; // $

function isSpace(c: number): boolean {
  if (c < 128) return CLASS[c] === SPACE;
  return (
    c === 0xa0 || c === 0x85 || c === 0x1680 || c === 0x180e || (c >= 0x2000 && c <= 0x200d) || c === 0x2028 ||
    c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}
/** Letters, digits, `_`, `$` and any non-space character outside ASCII (SQL identifiers may hold them). */
function isWordChar(c: number): boolean {
  if (c < 128) return CLASS[c]! >= WORD;
  return !isSpace(c);
}
function isWordStart(c: number): boolean {
  if (c < 128) return CLASS[c] === WORD;
  return !isSpace(c);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
}
function lower(c: number): number {
  return c >= 65 && c <= 90 ? c | 32 : c;
}

// Token flags passed to push().
const F_ARITH = 1; // binary arithmetic/bitwise/concatenation operator: folds `a+b` into `a`
const F_UNARY = 2; // may be a prefix operator: dropped where no operand precedes it

function isOperand(t: number): boolean {
  return t === T.NUMBER || t === T.STRING || t === T.NAME || t === T.VARIABLE;
}
/** After these (or at the start) an operator can only be a prefix one. */
function expectsOperand(t: number): boolean {
  return (
    t === T.OPERATOR || t === T.LOGIC || t === T.LPAREN || t === T.COMMA || t === T.SEMICOLON || t === T.KEYWORD ||
    t === T.STATEMENT || t === T.UNION || t === T.GROUP || t === T.TSQL
  );
}

/** Adds a raw token, folding it into the ones before where SQL makes them one. */
function push(t: number, id: number, flags: number): void {
  if (scan.more) return;
  if (t === T.COMMENT) {
    // A comment counts only when nothing follows it: one in the middle is whitespace (`UNION/**/SELECT`).
    pendingComment = true;
    return;
  }
  pendingComment = false;
  const n = scan.length;
  const last = n > 0 ? scan.types[n - 1]! : 0;
  if (id !== 0 && n > 0 && ids[n - 1] !== 0) {
    const folded = PAIRS.get(ids[n - 1]! * 4096 + id);
    if (folded !== undefined) {
      scan.types[n - 1] = folded;
      ids[n - 1] = 0;
      arith[n - 1] = 0;
      return;
    }
  }
  if ((flags & F_UNARY) !== 0 && (n === 0 || expectsOperand(last))) return;
  if (isOperand(t) && n >= 2 && arith[n - 1] === 1 && isOperand(scan.types[n - 2]!)) {
    // `1+1`, `0x41-a`, `@a*2`: an arithmetic expression is one operand. Strings are not folded: `'-'` and `'='`
    // are the shapes of tautologies.
    if (t !== T.STRING && scan.types[n - 2] !== T.STRING) {
      scan.length = n - 1;
      return;
    }
  }
  // `('x')` is 'x': a parenthesised single value, unless the parentheses are a call's or a type's (`SLEEP(5)`).
  if (t === T.RPAREN && n >= 2 && isOperand(last) && scan.types[n - 2] === T.LPAREN) {
    const before = n >= 3 ? scan.types[n - 3]! : 0;
    if (before !== T.FUNCTION && before !== T.ATTACK && before !== T.TYPE && before !== T.NAME) {
      scan.types[n - 2] = last;
      ids[n - 2] = 0;
      arith[n - 2] = 0;
      scan.length = n - 1;
      return;
    }
  }
  // Nesting depth and adjacent string literals (MySQL concatenates them) do not change the shape.
  if ((t === T.LPAREN || t === T.RPAREN || t === T.STRING) && last === t) return;
  if (n === MAX_TOKENS) {
    scan.more = true;
    return;
  }
  scan.types[n] = t;
  ids[n] = id;
  arith[n] = (flags & F_ARITH) !== 0 ? 1 : 0;
  scan.length = n + 1;
}

/** Index after the string whose body starts at `i` (the opening quote already read); `n` if unterminated. */
function endOfString(s: string, i: number, n: number, quote: number): number {
  while (i < n) {
    steps++;
    const c = s.charCodeAt(i);
    if (c === 92) {
      i += 2; // MySQL backslash escape
    } else if (c === quote) {
      if (i + 1 < n && s.charCodeAt(i + 1) === quote) i += 2; // doubled quote
      else return i + 1;
    } else {
      i++;
    }
  }
  return n;
}

/** Index after the block comment opened at `i` (pointing at `/*`); `n` if unterminated. */
function endOfBlockComment(s: string, i: number, n: number): number {
  i += 2;
  while (i < n) {
    steps++;
    if (s.charCodeAt(i) === 42 && i + 1 < n && s.charCodeAt(i + 1) === 47) return i + 2;
    i++;
  }
  return n;
}

function endOfLine(s: string, i: number, n: number): number {
  while (i < n) {
    steps++;
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
    i++;
  }
  return n;
}

// Result of readWord().
let wordEnd = 0;
let wordType = 0;
let wordId = 0;
let wordFlags = 0;

// Comment-split keywords (`UN/**/ION`, `sel/**/ect`) are joined only across short comments and into short words,
// which bounds the re-reading when the joined word turns out not to be a keyword.
const MAX_JOIN_COMMENT = 16;
const MAX_JOIN_PARTS = 4;

/** Reads the word starting at `i`: a keyword, a function, a (qualified) name. Sets wordEnd/wordType/wordFlags. */
function readWord(s: string, i: number, n: number): void {
  let h1 = H1_SEED;
  let h2 = H2_SEED;
  let s1 = H1_SEED; // hashes of the last dotted segment
  let s2 = H2_SEED;
  let len = 0;
  let segLen = 0;
  let dotted = false;
  let j = i;
  let firstEnd = -1;
  let bestEnd = -1;
  let best: Entry | undefined;
  let parts = 1;
  for (;;) {
    while (j < n) {
      const c = s.charCodeAt(j);
      if (isWordChar(c)) {
        const l = lower(c);
        h1 = hash1(h1, l);
        h2 = hash2(h2, l);
        s1 = hash1(s1, l);
        s2 = hash2(s2, l);
        len++;
        segLen++;
      } else if (c === 46 && j + 1 < n && (isWordStart(s.charCodeAt(j + 1)) || s.charCodeAt(j + 1) === 46)) {
        // Qualified names: information_schema.tables, master..xp_cmdshell, utl_inaddr.get_host_address.
        h1 = hash1(h1, 46);
        h2 = hash2(h2, 46);
        s1 = H1_SEED;
        s2 = H2_SEED;
        segLen = 0;
        len++;
        dotted = true;
      } else {
        break;
      }
      steps++;
      j++;
    }
    if (firstEnd < 0) firstEnd = j;
    const entry = len <= MAX_WORD ? lookup(h1, h2, len) : undefined;
    if (entry !== undefined) {
      bestEnd = j;
      best = entry;
    }
    // `UN/**/ION`: a short comment between word characters, where a filter that strips comments would join them.
    if (
      parts < MAX_JOIN_PARTS && !dotted && len < MAX_WORD && j + 3 < n && s.charCodeAt(j) === 47 &&
      s.charCodeAt(j + 1) === 42 && s.charCodeAt(j + 2) !== 33
    ) {
      const end = endOfBlockComment(s, j, n);
      if (end - j <= MAX_JOIN_COMMENT && end < n && isWordChar(s.charCodeAt(end)) && s.charCodeAt(end - 1) === 47) {
        parts++;
        j = end;
        continue;
      }
    }
    break;
  }
  if (best !== undefined) {
    // The longest comment-joined run that is a keyword; what follows is read again.
    wordEnd = bestEnd;
    classify(s, bestEnd, n, best);
    return;
  }
  if (parts > 1) {
    // Not a keyword once joined: only the first part is the word; the comment is read again as a comment.
    wordEnd = firstEnd;
    classify(s, firstEnd, n, undefined);
    return;
  }
  let entry: Entry | undefined;
  if (dotted && segLen > 0 && segLen <= MAX_WORD) {
    const last = lookup(s1, s2, segLen);
    // Only a callable last segment counts (master.dbo.fn_varbintohexstr(…)); `a.union` is a name.
    if (last !== undefined && last.fn) entry = last;
  }
  wordEnd = j;
  classify(s, j, n, entry);
}

function classify(s: string, j: number, n: number, entry: Entry | undefined): void {
  wordFlags = 0;
  if (entry === undefined) {
    wordType = T.NAME;
    wordId = 0;
    return;
  }
  wordId = entry.id;
  wordType = entry.type;
  if (entry.unary) wordFlags = F_UNARY;
  if (ARITH_WORDS.has(entry.id)) wordFlags = F_ARITH;
  if (entry.attack === 2) {
    wordType = T.ATTACK;
    wordId = 0;
    return;
  }
  if (entry.fn) {
    // Only the spaces are looked at twice: the main loop skips them again.
    let k = j;
    while (k < n && isSpace(s.charCodeAt(k))) {
      steps++;
      k++;
    }
    if (k < n && s.charCodeAt(k) === 40) {
      wordType = entry.attack === 1 ? T.ATTACK : T.FUNCTION;
      wordId = 0;
    }
  }
}

/**
 * Tokenizes `s` as SQL and fills {@link scan}. `quote` is 0 to read the value as it stands, or the char code of a
 * quote (39 `'`, 34 `"`) to read it as if it continued a string literal the application opened. With `mysqlDashes`,
 * `--` followed by anything but whitespace is two minus signs, as MySQL reads it (`1 --1 UNION SELECT …` is
 * `1 - -1 UNION SELECT …` there, a comment everywhere else).
 */
export function tokenize(s: string, quote: number, mysqlDashes = false): void {
  const n = s.length;
  scan.length = 0;
  scan.more = false;
  pendingComment = false;
  let inExecutable = false;
  let i = 0;
  if (quote !== 0) {
    i = endOfString(s, 0, n, quote);
    push(T.STRING, 0, 0);
  }
  while (i < n && !scan.more) {
    steps++;
    const c = s.charCodeAt(i);
    const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(next))) {
      i = readNumber(s, i, n);
      if (i < n && isWordStart(s.charCodeAt(i))) {
        // `3rd`, `10am`, `1if` are one word; MySQL reads `1and`, `1union` as a number and an operator, so the
        // operators that evasions glue on stay separate.
        const end = gluedWordEnd(s, i, n);
        if (end - i > 7 || !GLUED_OPERATORS.has(s.slice(i, end).toLowerCase())) {
          i = end;
          push(T.NAME, 0, 0);
          continue;
        }
      }
      push(T.NUMBER, 0, 0);
      continue;
    }
    if (isWordStart(c)) {
      // N'…', E'…', X'…', B'…': string literals with a one-letter prefix.
      const l = lower(c);
      if (next === 39 && (l === 110 || l === 101 || l === 120 || l === 98)) {
        i = endOfString(s, i + 2, n, 39);
        push(T.STRING, 0, 0);
        continue;
      }
      readWord(s, i, n);
      i = wordEnd;
      push(wordType, wordId, wordFlags);
      continue;
    }
    switch (c) {
      case 39: // '
      case 34: // "
        i = endOfString(s, i + 1, n, c);
        push(T.STRING, 0, 0);
        continue;
      case 96: // `name`
        i = endOfString(s, i + 1, n, 96);
        push(T.NAME, 0, 0);
        continue;
      case 64: {
        // @var, @@version
        let j = i + 1;
        if (j < n && s.charCodeAt(j) === 64) j++;
        const start = j;
        while (j < n && isWordChar(s.charCodeAt(j))) {
          steps++;
          j++;
        }
        i = j;
        push(j > start ? T.VARIABLE : T.UNKNOWN, 0, 0);
        continue;
      }
      case 47: // /
        if (next === 42) {
          if (i + 2 < n && s.charCodeAt(i + 2) === 33) {
            // MySQL executable comment /*!50000 … */: its body is code.
            i += 3;
            for (let d = 0; d < 5 && i < n && isDigit(s.charCodeAt(i)); d++) i++;
            inExecutable = true;
            continue;
          }
          i = endOfBlockComment(s, i, n);
          push(T.COMMENT, 0, 0);
          continue;
        }
        i++;
        push(T.OPERATOR, 0, F_ARITH);
        continue;
      case 42: // *
        if (inExecutable && next === 47) {
          inExecutable = false;
          i += 2;
          continue;
        }
        i++;
        push(T.OPERATOR, 0, F_ARITH);
        continue;
      case 45: // -
        if (next === 45 && !(mysqlDashes && i + 2 < n && !isSpace(s.charCodeAt(i + 2)))) {
          i = endOfLine(s, i, n);
          push(T.COMMENT, 0, 0);
          continue;
        }
        i++;
        push(T.OPERATOR, 0, F_ARITH | F_UNARY);
        continue;
      case 35: // #
        i = endOfLine(s, i, n);
        push(T.COMMENT, 0, 0);
        continue;
      case 43: // +
        i++;
        push(T.OPERATOR, 0, F_ARITH | F_UNARY);
        continue;
      case 126: // ~
        i++;
        push(T.OPERATOR, 0, F_UNARY);
        continue;
      case 37: // %
      case 94: // ^
        i++;
        push(T.OPERATOR, 0, F_ARITH);
        continue;
      case 124: // |
        if (next === 124) {
          i += 2;
          push(T.LOGIC, 0, 0);
        } else {
          i++;
          push(T.OPERATOR, 0, F_ARITH);
        }
        continue;
      case 38: // &
        if (next === 38) {
          i += 2;
          push(T.LOGIC, 0, 0);
        } else {
          i++;
          push(T.OPERATOR, 0, F_ARITH);
        }
        continue;
      case 61: // =
        i += next === 61 ? 2 : 1;
        push(T.OPERATOR, 0, 0);
        continue;
      case 60: // < <= <> <=> <<
        i += next === 61 ? (i + 2 < n && s.charCodeAt(i + 2) === 62 ? 3 : 2) : next === 62 || next === 60 ? 2 : 1;
        push(T.OPERATOR, 0, next === 60 ? F_ARITH : 0);
        continue;
      case 62: // > >= >>
        i += next === 61 || next === 62 ? 2 : 1;
        push(T.OPERATOR, 0, next === 62 ? F_ARITH : 0);
        continue;
      case 33: // ! != !< !>
        if (next === 61 || next === 60 || next === 62) {
          i += 2;
          push(T.OPERATOR, 0, 0);
        } else {
          i++;
          push(T.OPERATOR, 0, F_UNARY);
        }
        continue;
      case 58: // : :: :=
        if (next === 58 || next === 61) {
          i += 2;
          push(T.OPERATOR, 0, 0);
        } else {
          i++;
          push(T.COLON, 0, 0);
        }
        continue;
      case 40: // ( ) , ; .
      case 41:
      case 44:
      case 59:
      case 46:
        i++;
        push(PUNCTUATION[c]!, 0, 0);
        continue;
      case 92: // \N is MySQL's NULL
        if (next === 78) {
          i += 2;
          push(T.NUMBER, 0, 0);
          continue;
        }
        i++;
        push(T.UNKNOWN, 0, 0);
        continue;
      default:
        i++;
        push(T.UNKNOWN, 0, 0);
    }
  }
  if (pendingComment) {
    if (scan.length < MAX_TOKENS) {
      scan.types[scan.length] = T.COMMENT;
      scan.length++;
    } else {
      scan.more = true;
    }
  }
}

/** Index after the number starting at `i`: decimal with fraction and exponent, 0x hex, 0b binary. */
/** Token type of each one-character punctuation token. */
const PUNCTUATION: Readonly<Record<number, number>> = { 40: T.LPAREN, 41: T.RPAREN, 44: T.COMMA, 59: T.SEMICOLON, 46: T.DOT };

/** Words that MySQL reads apart from a number glued before them (`1and 1=1`, `1union select`). */
const GLUED_OPERATORS: ReadonlySet<string> = new Set(['and', 'or', 'xor', 'div', 'mod', 'union', 'from', 'order', 'group', 'having', 'limit', 'like', 'rlike', 'regexp', 'between', 'in', 'is', 'not']);

/** End of the word starting at `i`. */
function gluedWordEnd(s: string, i: number, n: number): number {
  let j = i;
  while (j < n && isWordChar(s.charCodeAt(j))) {
    steps++;
    j++;
  }
  return j;
}

function readNumber(s: string, i: number, n: number): number {
  const c0 = s.charCodeAt(i);
  const x = i + 1 < n ? lower(s.charCodeAt(i + 1)) : 0;
  if (c0 === 48 && (x === 120 || x === 98) && i + 2 < n) {
    let j = i + 2;
    const hex = x === 120;
    while (j < n && (hex ? isHex(s.charCodeAt(j)) : s.charCodeAt(j) === 48 || s.charCodeAt(j) === 49)) {
      steps++;
      j++;
    }
    if (j > i + 2) return j;
  }
  let j = i;
  while (j < n && isDigit(s.charCodeAt(j))) {
    steps++;
    j++;
  }
  if (j < n && s.charCodeAt(j) === 46) {
    j++;
    while (j < n && isDigit(s.charCodeAt(j))) {
      steps++;
      j++;
    }
  }
  if (j < n && lower(s.charCodeAt(j)) === 101) {
    let k = j + 1;
    if (k < n && (s.charCodeAt(k) === 43 || s.charCodeAt(k) === 45)) k++;
    if (k < n && isDigit(s.charCodeAt(k))) {
      j = k;
      while (j < n && isDigit(s.charCodeAt(j))) {
        steps++;
        j++;
      }
    }
  }
  return j;
}
