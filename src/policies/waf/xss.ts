import { needleGroup } from './needles.ts';
import { isLetterCode, isSpaceCode, isWordCode, readWord, skipSpaces, skipSpacesBack, someOccurrence, wordStart } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * Cross-site scripting in HTML and JavaScript contexts: tags that execute or load content, event-handler attributes
 * (inside a tag, or breaking out of a quoted attribute), `javascript:`/`vbscript:`/`data:text/html` URLs with the
 * control characters browsers ignore inside a scheme, JavaScript sinks (`alert(`, `(confirm)(1)`, `eval.call(`,
 * `.some(confirm)`), DOM and prototype access, and CSS `expression()`. A small tokenizer, not a parser: it only has
 * to notice markup and script, so each character is looked at a bounded number of times.
 */

const hit = (rule: string): Hit => ({ family: 'xss', rule });

/** Tags that run script or load active content wherever they land (level 1). */
const EXEC_TAGS = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'svg', 'math', 'base', 'meta', 'link', 'style', 'xss', 'isindex', 'portal', 'xml', 'import', 'vmlframe', 'handler', 'listener']);
/** Tags that are harmless alone but carry handlers or sources attackers use (level 2). */
const ACTIVE_TAGS = new Set(['img', 'image', 'video', 'audio', 'source', 'track', 'body', 'html', 'head', 'input', 'form', 'details', 'marquee', 'button', 'textarea', 'keygen', 'select', 'option', 'area', 'animate', 'set', 'bgsound', 'layer', 'ilayer', 'picture', 'dialog', 'menu']);
/** Functions whose call is the proof-of-concept or the payload. */
const SINKS = ['alert', 'confirm', 'prompt', 'eval', 'settimeout', 'setinterval', 'execscript', 'fromcharcode', 'atob'];
const DOM = ['document.cookie', 'document.domain', 'document.write', 'document.location', 'document[', 'window.location', 'window[', '.innerhtml', 'localstorage.', 'sessionstorage.', 'string.fromcharcode', 'top.location', 'self.location', 'parent.location'];
const DOM_GROUP = needleGroup(DOM);
const PROTOTYPE_GROUP = needleGroup(['__proto__', 'constructor.prototype', '.constructor(']);
const CSS_GROUP = needleGroup(['expression(', '-moz-binding', 'behavior:url(']);
const SCRIPT_SCHEMES = new Set(['javascript', 'vbscript', 'livescript', 'mocha', 'jscript']);
const DATA_TYPES = ['text/html', 'image/svg', 'application/xhtml', 'text/xml', 'application/x-', 'text/javascript', 'application/javascript'];

export const detectXss: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 4) return undefined;
  return tags(t, paranoia) ?? handlerBreakout(t) ?? schemes(t, paranoia) ?? sinks(t, paranoia) ?? misc(t, probe.groups, paranoia);
};

/** `<name …>`: executing tags, and event handlers among its attributes (scanned up to the next `<` or `>`). */
function tags(t: string, paranoia: number): Hit | undefined {
  let found: Hit | undefined;
  someOccurrence(
    t,
    '<',
    (at) => {
      let i = at + 1;
      if (t[i] === '/') i++;
      const name = readWord(t, i, 24);
      if (name === '') return false;
      if (EXEC_TAGS.has(name)) return (found = hit(name === 'script' ? 'xss-script-tag' : 'xss-exec-tag')), true;
      const end = attributesEnd(t, i + name.length);
      if (handlerIn(t, i + name.length, end)) return (found = hit('xss-event-handler')), true;
      if (paranoia >= 2 && ACTIVE_TAGS.has(name) && end > i + name.length + 1) return (found = hit('xss-active-tag')), true;
      if (paranoia >= 3 && (t[end] === '>' || end === t.length)) return (found = hit('xss-any-tag')), true;
      return false;
    },
    Number.MAX_SAFE_INTEGER,
  );
  return found;
}

/** End of a tag's attribute run: the next `<` or `>` (so no character is scanned for two tags). */
function attributesEnd(t: string, from: number): number {
  for (let i = from; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 60 || c === 62) return i;
  }
  return t.length;
}

/** `on<letters>` + spaces + `=` at an attribute boundary (whitespace, `/`, quote) inside `[from, to)`. */
function handlerIn(t: string, from: number, to: number): boolean {
  for (let i = from; i < to - 4; i++) {
    if (t.charCodeAt(i) !== 111 || t.charCodeAt(i + 1) !== 110) continue;
    const before = t.charCodeAt(i - 1);
    if (!(isSpaceCode(before) || before === 47 || before === 34 || before === 39 || before === 96)) continue;
    if (isHandlerAt(t, i)) return true;
  }
  return false;
}

function isHandlerAt(t: string, at: number): boolean {
  const event = readWord(t, at + 2, 40);
  if (event.length < 3) return false;
  const eq = skipSpaces(t, at + 2 + event.length, 16);
  return t.charCodeAt(eq) === 61;
}

/** `"onmouseover=…` outside any tag: the value breaks out of a quoted attribute (or starts as one). */
function handlerBreakout(t: string): Hit | undefined {
  const found = someOccurrence(
    t,
    'on',
    (at) => {
      if (!wordStart(t, at) || !isHandlerAt(t, at)) return false;
      const prev = skipSpacesBack(t, at, 8);
      if (prev === -1) return true;
      const c = t.charCodeAt(prev);
      return c === 34 || c === 39 || c === 96 || c === 47;
    },
    Number.MAX_SAFE_INTEGER,
  );
  return found ? hit('xss-event-handler') : undefined;
}

/**
 * `javascript:` and friends, read backwards from each `:` over letters and the characters a browser drops inside
 * a scheme (tab, CR, LF, NUL; at level 2 also spaces), and `data:` URLs of active media types.
 */
function schemes(t: string, paranoia: number): Hit | undefined {
  let found: Hit | undefined;
  someOccurrence(
    t,
    ':',
    (at) => {
      let word = '';
      for (let i = at - 1; i >= 0 && at - i <= 32; i--) {
        const c = t.charCodeAt(i);
        if (isLetterCode(c)) word = t[i] + word;
        else if (c === 9 || c === 10 || c === 13 || c === 0 || (paranoia >= 2 && c === 32)) continue;
        else break;
      }
      if (SCRIPT_SCHEMES.has(word)) return (found = hit('xss-script-url')), true;
      if (word.endsWith('data')) {
        const rest = t.slice(skipSpaces(t, at + 1, 8), at + 40);
        if (DATA_TYPES.some((type) => rest.startsWith(type))) return (found = hit('xss-data-url')), true;
      }
      return false;
    },
    Number.MAX_SAFE_INTEGER,
  );
  return found;
}

/** A sink called: `alert(1)`, `alert\`1\``, `alert?.(…)`, `confirm.call(…)`, `(prompt)(1)`, `[1].some(confirm)`. */
function sinks(t: string, paranoia: number): Hit | undefined {
  for (const sink of SINKS) {
    const found = someOccurrence(
      t,
      sink,
      (at) => {
        if (!wordStart(t, at)) return false;
        let i = at + sink.length;
        if (isWordCode(t.charCodeAt(i))) return false;
        if (t.startsWith('?.', i)) i += 2;
        for (const method of ['.call', '.apply', '.bind']) if (t.startsWith(method, i)) i += method.length;
        const wrapped = t.charCodeAt(at - 1) === 40 && t.charCodeAt(i) === 41;
        if (wrapped) {
          // `(alert)(1)` calls it; `.some(alert)` passes it as a callback.
          const after = skipSpaces(t, i + 1, 4);
          if (t.charCodeAt(after) === 40 || t.charCodeAt(after) === 96 || t.charCodeAt(at - 2) !== 32) return true;
        }
        const open = paranoia >= 2 ? skipSpaces(t, i, 4) : i;
        const c = t.charCodeAt(open);
        if (c === 96) return true;
        if (c !== 40) return false;
        // "alert(s)", "prompt(s)": English plurals, not calls.
        return !(t.startsWith('(s)', open) || t.startsWith('(es)', open));
      },
      Number.MAX_SAFE_INTEGER,
    );
    if (found) return hit('xss-js-sink');
  }
  return undefined;
}

function misc(t: string, groups: number, paranoia: number): Hit | undefined {
  if (groups & DOM_GROUP) return hit('xss-dom-access');
  if (groups & PROTOTYPE_GROUP) return hit('xss-prototype');
  if (groups & CSS_GROUP) return hit('xss-css-expression');
  if (paranoia >= 2 && (t.includes('@import') || t.includes('<!--') || t.includes('srcdoc'))) return hit('xss-markup-misc');
  return undefined;
}
