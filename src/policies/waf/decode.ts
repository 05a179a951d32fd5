import { indexText } from './needles.ts';
import { isLetterCode } from './text.ts';
import type { Location, Probe } from './types.ts';

/**
 * Bounded decoding of one value into the forms an upstream, a browser or a shell might read it as: percent
 * (also `%uXXXX` and overlong UTF-8, read the permissive way), HTML character references (named and numeric, with
 * or without `;`), JavaScript escapes (`\uXXXX`, `\u{…}`, `\xXX`), repeated up to {@link MAX_DECODE_ROUNDS} times,
 * then a last form without NUL/zero-width characters, NFKC-normalised. Every step is one linear pass that never
 * grows the text, so a value costs at most (rounds + 2) × its length.
 */

/** Rounds of percent → HTML → JS decoding (double and triple encoding). */
export const MAX_DECODE_ROUNDS = 3;

/** Raised when a request's decoded text exceeds its scan budget (see {@link ScanBudget}). */
export class ScanBudgetError extends Error {
  constructor() {
    super('WAF scan budget exhausted');
    this.name = 'ScanBudgetError';
  }
}

/** Characters a request may still have scanned; each probe charges its length. */
export interface ScanBudget {
  remaining: number;
}

/**
 * The distinct forms of `value` to scan, the raw value first. Charges `budget` for each form; throws
 * {@link ScanBudgetError} when it runs out (the caller fails closed).
 */
export function probesOf(value: string, location: Location, budget: ScanBudget): Probe[] {
  const probes: Probe[] = [];
  const add = (text: string): void => {
    budget.remaining -= text.length + 1;
    if (budget.remaining < 0) throw new ScanBudgetError();
    const lower = text.toLowerCase();
    const { groups, punct } = indexText(lower);
    probes.push({ text, lower, punct, groups, location });
  };
  add(value);
  let current = value;
  let rounds = 0;
  for (; rounds < MAX_DECODE_ROUNDS; rounds++) {
    const next = decodeRound(current);
    if (next === current) break;
    add(next);
    current = next;
  }
  const compact = compactForm(current);
  if (compact !== current) {
    add(compact);
    // Fullwidth escapes (`％３Ｃ`, `＆＃６０；`) are escapes once normalised: one more round, within the round count.
    if (rounds < MAX_DECODE_ROUNDS) {
      const again = decodeRound(compact);
      if (again !== compact) add(again);
    }
  }
  return probes;
}

/** One round of percent → HTML → JS decoding. */
function decodeRound(text: string): string {
  let next = text;
  // Each decoder is a full pass that builds a new string: run it only where an escape can start ("30% off" and
  // "salt & pepper" hold none).
  if (escapeStarts(next, '%', isPercentEscapeStart)) next = percentDecode(next);
  if (escapeStarts(next, '&', isReferenceStart)) next = htmlDecode(next);
  if (next.includes('\\')) next = jsUnescape(next);
  return next;
}

/** Whether some `marker` in `text` is followed by a character `starts` accepts. */
function escapeStarts(text: string, marker: string, starts: (code: number) => boolean): boolean {
  for (let at = text.indexOf(marker); at !== -1; at = text.indexOf(marker, at + 1)) {
    if (starts(text.charCodeAt(at + 1))) return true;
  }
  return false;
}

/** `%41`, `%u0041` (a hex digit or `u`). */
function isPercentEscapeStart(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 117 || c === 85;
}

/** `&lt`, `&#60` (a letter or `#`). */
function isReferenceStart(c: number): boolean {
  return c === 35 || isLetterCode(c);
}

/** Without NUL, zero-width and soft-hyphen characters; NFKC-normalised (fullwidth `＜`, circled letters) when not ASCII. */
export function compactForm(text: string): string {
  // Single-class native scans (nothing to backtrack): most text is ASCII without invisible characters.
  const ascii = !NON_ASCII.test(text);
  const nul = text.includes('\u0000');
  if (ascii && !nul) return text;
  let out = nul ? text.replaceAll('\u0000', '') : text;
  if (!ascii && INVISIBLE.test(out)) out = out.replace(INVISIBLE_ALL, '');
  return ascii ? out : out.normalize('NFKC');
}

/** Any UTF-16 unit outside ASCII (surrogates included). */
const NON_ASCII = /[\u0080-\uffff]/;
/** Soft hyphen and zero-width characters (NUL is removed apart). */
const INVISIBLE = /[\u00ad\u200b-\u200f\ufeff\u2060]/;
const INVISIBLE_ALL = /[\u00ad\u200b-\u200f\ufeff\u2060]/g;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/**
 * Decodes `%XX` runs as UTF-8 the permissive way (overlong forms such as `%c0%ae` read as `.`; bytes that are not
 * UTF-8 read as Latin-1) and `%uXXXX`; a `%` that starts no escape is kept.
 */
export function percentDecode(text: string): string {
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length > 0) {
      out += utf8Lenient(bytes);
      bytes = [];
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 37 && i + 2 < text.length) {
      const h = hexValue(text.charCodeAt(i + 1));
      const l = hexValue(text.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        bytes.push(h * 16 + l);
        i += 2;
        continue;
      }
      if (text[i + 1] === 'u' || text[i + 1] === 'U') {
        const v = hex4(text, i + 2);
        if (v >= 0) {
          flush();
          out += String.fromCharCode(v);
          i += 5;
          continue;
        }
      }
    }
    flush();
    out += text[i];
  }
  flush();
  return out;
}

function hex4(text: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const d = hexValue(text.charCodeAt(at + k));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** UTF-8 bytes → text, reading overlong sequences as their code point and invalid bytes as Latin-1. */
function utf8Lenient(bytes: readonly number[]): string {
  let out = '';
  const cont = (k: number) => k < bytes.length && (bytes[k]! & 0xc0) === 0x80;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x80) out += String.fromCharCode(b);
    else if (b >= 0xc0 && b < 0xe0 && cont(i + 1)) {
      out += String.fromCharCode(((b & 0x1f) << 6) | (bytes[i + 1]! & 0x3f));
      i += 1;
    } else if (b >= 0xe0 && b < 0xf0 && cont(i + 1) && cont(i + 2)) {
      out += String.fromCharCode(((b & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f));
      i += 2;
    } else if (b >= 0xf0 && b < 0xf8 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const cp = ((b & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
      out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      i += 3;
    } else out += String.fromCharCode(b);
  }
  return out;
}

/** Named references attackers use to hide markup and script (a browser knows ~2000; these are the ones that matter). */
const NAMED: Readonly<Record<string, string>> = {
  lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", colon: ':', tab: '\t', newline: '\n', lpar: '(', rpar: ')',
  sol: '/', bsol: '\\', equals: '=', num: '#', period: '.', comma: ',', semi: ';', excl: '!', quest: '?',
  lsqb: '[', rsqb: ']', lbrack: '[', rbrack: ']', lcub: '{', rcub: '}', lbrace: '{', rbrace: '}', nbsp: ' ',
  grave: '`', hat: '^', plus: '+', percnt: '%', ast: '*', dollar: '$', commat: '@', lowbar: '_', verbar: '|',
  vert: '|', nvlt: '<', nvgt: '>', dash: '-', hyphen: '-',
};
/** Legacy references a browser also reads without the `;`. */
const LEGACY = new Set(['lt', 'gt', 'amp', 'quot', 'nbsp']);

/** Decodes HTML character references: named (see NAMED), `&#NNN` and `&#xHH`, with or without `;`, any leading zeros. */
export function htmlDecode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 38) {
      out += text[i];
      continue;
    }
    const decoded = reference(text, i + 1);
    if (decoded) {
      out += decoded.value;
      i = decoded.end - 1;
    } else out += '&';
  }
  return out;
}

function reference(text: string, at: number): { value: string; end: number } | undefined {
  if (text.charCodeAt(at) === 35) {
    let i = at + 1;
    const hex = text[i] === 'x' || text[i] === 'X';
    if (hex) i++;
    const zerosFrom = i;
    while (text.charCodeAt(i) === 48 && i - at < 64) i++;
    const zeros = i - zerosFrom;
    let value = 0;
    let digits = 0;
    while (i < text.length && digits < 8) {
      const d = hex ? hexValue(text.charCodeAt(i)) : text.charCodeAt(i) - 48;
      if (d < 0 || d > (hex ? 15 : 9)) break;
      value = value * (hex ? 16 : 10) + d;
      digits++;
      i++;
    }
    if (digits === 0 && zeros === 0) return undefined;
    if (text.charCodeAt(i) === 59) i++;
    return { value: value > 0 && value <= 0x10ffff ? String.fromCodePoint(value) : '\ufffd', end: i };
  }
  let i = at;
  while (i < text.length && i - at < 10 && isLetterCode(text.charCodeAt(i))) i++;
  const name = text.slice(at, i).toLowerCase();
  const value = NAMED[name];
  if (value === undefined) return undefined;
  if (text.charCodeAt(i) === 59) return { value, end: i + 1 };
  return LEGACY.has(name) ? { value, end: i } : undefined;
}

/** Decodes JavaScript escapes `\uXXXX`, `\u{H…}` and `\xHH`; other backslashes are kept. */
export function jsUnescape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 92 && i + 1 < text.length) {
      const next = text[i + 1];
      if (next === 'u' && text[i + 2] === '{') {
        const close = text.indexOf('}', i + 3);
        if (close > i + 3 && close - i <= 11) {
          const value = Number.parseInt(text.slice(i + 3, close), 16);
          if (allHex(text, i + 3, close) && value <= 0x10ffff) {
            out += String.fromCodePoint(value);
            i = close;
            continue;
          }
        }
      } else if (next === 'u' || next === 'U') {
        const v = hex4(text, i + 2);
        if (v >= 0) {
          out += String.fromCharCode(v);
          i += 5;
          continue;
        }
      } else if (next === 'x' || next === 'X') {
        const h = hexValue(text.charCodeAt(i + 2));
        const l = hexValue(text.charCodeAt(i + 3));
        if (h >= 0 && l >= 0) {
          out += String.fromCharCode(h * 16 + l);
          i += 3;
          continue;
        }
      }
    }
    out += text[i];
  }
  return out;
}

function allHex(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (hexValue(text.charCodeAt(k)) < 0) return false;
  return true;
}
