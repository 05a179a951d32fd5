/**
 * Small linear-time scanning helpers shared by the detectors. Every function here looks at each character a
 * bounded number of times; none builds a regular expression.
 */

/** ASCII letter, digit or `_`. */
export function isWordCode(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95;
}

/** ASCII letter. */
export function isLetterCode(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90);
}

/** Space, tab, CR, LF, FF, VT. */
export function isSpaceCode(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/** Index of the first non-space character at or after `from` (at most `limit` skipped; `text.length` at the end). */
export function skipSpaces(text: string, from: number, limit = 64): number {
  let i = from;
  const end = Math.min(text.length, from + limit);
  while (i < end && isSpaceCode(text.charCodeAt(i))) i++;
  return i;
}

/** Index of the last non-space character before `from` (exclusive), or -1. At most `limit` spaces skipped. */
export function skipSpacesBack(text: string, from: number, limit = 64): number {
  let i = from - 1;
  const end = Math.max(-1, from - 1 - limit);
  while (i > end && isSpaceCode(text.charCodeAt(i))) i--;
  return i;
}

/** Whether `word` occurs at `at` in `text` and is not followed by a word character. */
export function wordAt(text: string, at: number, word: string): boolean {
  return text.startsWith(word, at) && !isWordCode(text.charCodeAt(at + word.length));
}

/** Whether position `at` starts a word (start of text or a non-word character before it). */
export function wordStart(text: string, at: number): boolean {
  return at === 0 || !isWordCode(text.charCodeAt(at - 1));
}

/**
 * Calls `visit` for each occurrence of `needle` in `text` (up to `max` occurrences) until it returns true.
 * Returns whether some visit returned true. `indexOf` is linear; bounding occurrences bounds the visits' work.
 */
export function someOccurrence(text: string, needle: string, visit: (at: number) => boolean, max = 256): boolean {
  let at = text.indexOf(needle);
  for (let n = 0; at !== -1 && n < max; n++) {
    if (visit(at)) return true;
    at = text.indexOf(needle, at + 1);
  }
  return false;
}

/** Whether any of `needles` occurs in `text`. */
export function includesAny(text: string, needles: readonly string[]): boolean {
  for (const needle of needles) if (text.includes(needle)) return true;
  return false;
}

/** Reads a run of ASCII letters (and `-`/`_` when `dash`) starting at `at`, at most `max` characters. */
export function readWord(text: string, at: number, max = 32, dash = false): string {
  let i = at;
  const end = Math.min(text.length, at + max);
  while (i < end) {
    const c = text.charCodeAt(i);
    if (!(isLetterCode(c) || (dash && (c === 45 || c === 95)))) break;
    i++;
  }
  return text.slice(at, i);
}

/**
 * Bit per ASCII punctuation character (the 32 of `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`) that occurs in `text`: one
 * pass per probe, so that a needle holding punctuation the text lacks is never searched for.
 */
export function punctuationMask(text: string): number {
  let mask = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) mask |= PUNCTUATION_BITS[c]!;
  }
  return mask;
}

/** The {@link punctuationMask} bit of each ASCII code (0 for letters, digits, controls and space). */
export const PUNCTUATION_BITS = new Int32Array(128);
{
  let n = 0;
  for (let c = 33; c < 127; c++) if (!isWordCode(c) || c === 95) PUNCTUATION_BITS[c] = 1 << n++;
}
