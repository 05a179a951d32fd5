/**
 * Needle groups searched in one pass per probe. Every detector's substring lists (sensitive file names, code calls,
 * metadata hosts, XPath functions…) register here at module load; the first scan builds one Aho–Corasick automaton
 * (a full transition table over the ASCII characters the needles use) and each probe is read once, character by
 * character, into a bit set of the groups that occur in it. A detector then tests a bit instead of calling
 * `includes` once per needle. Linear in the text, whatever the needles. ASCII capitals read as their lower-case
 * letters, so a caller that has not lower-cased its text (or holds only its UTF-8 bytes) matches case-insensitively.
 */

import { PUNCTUATION_BITS } from './text.ts';

const MAX_GROUPS = 31;

interface Automaton {
  /** ASCII code → symbol (0: a character no needle holds). */
  readonly symbols: Uint8Array;
  readonly width: number;
  /** Next state per state × symbol. */
  readonly next: Int32Array;
  /** Groups ending in each state (its own and its failure chain's). */
  readonly output: Int32Array;
}

/** What one pass over a probe's lower-cased text learns: its needle groups and its punctuation (text.ts). */
export interface TextIndex {
  readonly groups: number;
  readonly punct: number;
}

/** A set of needle groups and the automaton that finds them (built on first use, rebuilt when a group is added). */
export class NeedleIndex {
  readonly #groups: (readonly string[])[] = [];
  #automaton: Automaton | undefined;

  /** Registers a group of lower-case printable ASCII needles (tab and line feed allowed) and returns its bit. */
  group(needles: readonly string[]): number {
    if (this.#groups.length === MAX_GROUPS) throw new Error(`waf needles: more than ${MAX_GROUPS} groups`);
    for (const needle of needles) {
      if (needle === '' || needle !== needle.toLowerCase() || /[^\t\n\x20-\x7e]/.test(needle)) throw new Error(`waf needles: ${JSON.stringify(needle)} must be non-empty lower-case printable ASCII`);
    }
    this.#groups.push(needles);
    this.#automaton = undefined;
    return 1 << (this.#groups.length - 1);
  }

  /** Needle groups and {@link punctuationMask} of `text` (lower-cased by the caller) in one pass. */
  index(text: string): TextIndex {
    const { symbols, width, next, output } = (this.#automaton ??= build(this.#groups));
    let state = 0;
    let groups = 0;
    let punct = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 128) {
        state = next[state * width + symbols[c]!]!;
        punct |= PUNCTUATION_BITS[c]!;
      } else state = 0;
      groups |= output[state]!;
    }
    return { groups, punct };
  }

  /** The needle groups in UTF-8 `bytes` (a byte of a multi-byte character matches no needle, as in {@link index}). */
  groupsInBytes(bytes: Uint8Array): number {
    const { symbols, width, next, output } = (this.#automaton ??= build(this.#groups));
    let state = 0;
    let groups = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      state = c < 128 ? next[state * width + symbols[c]!]! : 0;
      groups |= output[state]!;
    }
    return groups;
  }
}

/** The detectors' shared index: each registers its lists at module load. */
const SHARED = new NeedleIndex();

/** Registers a group in the detectors' shared index (at module load) and returns its bit. */
export function needleGroup(needles: readonly string[]): number {
  return SHARED.group(needles);
}

/** Needle groups and punctuation of `text` in the detectors' shared index. */
export function indexText(text: string): TextIndex {
  return SHARED.index(text);
}

/** Bit set of the shared groups one of whose needles occurs in `text` (lower-cased by the caller). */
export function groupsIn(text: string): number {
  return SHARED.index(text).groups;
}

function build(groups: readonly (readonly string[])[]): Automaton {
  const symbols = new Uint8Array(128);
  let width = 1;
  for (const group of groups) for (const needle of group) for (let i = 0; i < needle.length; i++) {
    const c = needle.charCodeAt(i);
    if (symbols[c] === 0) symbols[c] = width++;
  }
  for (let c = 65; c <= 90; c++) symbols[c] = symbols[c + 32]!;
  // The trie, as rows of `width` child states (0 = none; the root never is a child).
  const rows: Int32Array[] = [new Int32Array(width)];
  const outputs: number[] = [0];
  groups.forEach((group, g) => {
    for (const needle of group) {
      let state = 0;
      for (let i = 0; i < needle.length; i++) {
        const s = symbols[needle.charCodeAt(i)]!;
        let child = rows[state]![s]!;
        if (child === 0) {
          child = rows.length;
          rows.push(new Int32Array(width));
          outputs.push(0);
          rows[state]![s] = child;
        }
        state = child;
      }
      outputs[state]! |= 1 << g;
    }
  });
  // Breadth first: each missing edge goes where the failure state's edge goes; outputs gather along failures.
  const next = new Int32Array(rows.length * width);
  const output = Int32Array.from(outputs);
  const fail = new Int32Array(rows.length);
  const queue: number[] = [];
  for (let s = 0; s < width; s++) {
    const child = rows[0]![s]!;
    next[s] = child;
    if (child !== 0) queue.push(child);
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]!;
    output[state]! |= output[fail[state]!]!;
    for (let s = 0; s < width; s++) {
      const child = rows[state]![s]!;
      if (child === 0) {
        next[state * width + s] = next[fail[state]! * width + s]!;
      } else {
        fail[child] = next[fail[state]! * width + s]!;
        next[state * width + s] = child;
        queue.push(child);
      }
    }
  }
  return { symbols, width, next, output };
}
