import { isLetterCode, readWord, skipSpaces } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * CRLF, header and mail-header injection. In values that end up in a request line or a header (path, query,
 * header, cookie) any CR or LF is an injection, and so are U+560A/U+560D, which naive encoders truncate to LF/CR.
 * Query values count as single-line from level 3. In multi-line text (bodies) a line break (or U+560A/U+560D) is
 * normal: there it takes a line that looks like a header
 * (`Bcc:`, `Set-Cookie:`, `Content-Type:`) or an SMTP/IMAP command (`RCPT TO:`, `QUIT`, `A1 FETCH`).
 */

const hit = (rule: string): Hit => ({ family: 'crlf', rule });

const HEADERS = new Set(['bcc', 'cc', 'to', 'from', 'subject', 'reply-to', 'sender', 'content-type', 'content-transfer-encoding', 'mime-version', 'set-cookie', 'location', 'content-length', 'transfer-encoding', 'refresh', 'x-forwarded-for', 'x-forwarded-host', 'host', 'cookie', 'authorization', 'content-disposition', 'return-path']);
/** SMTP commands that make sense alone on a line (`QUIT`) or with their own syntax (`RCPT TO:`). */
const SMTP_ALONE = new Set(['quit', 'data', 'rset', 'noop', 'starttls']);
const SMTP_PREFIX = ['rcpt to:', 'mail from:', 'helo ', 'ehlo ', 'vrfy ', 'expn ', 'auth login', 'auth plain'];
/** IMAP commands after a tag (`V100 CAPABILITY`). */
const IMAP = new Set(['capability', 'fetch', 'login', 'logout', 'select', 'examine', 'store', 'copy', 'append', 'list', 'search', 'uid', 'authenticate', 'delete', 'rename', 'create']);

/** Locations whose values end up in a request line or header: any line break is an injection at level 1. */
const SINGLE_LINE = new Set(['path', 'header', 'cookie', 'filename']);

export const detectCrlf: Detector = (probe, paranoia) => {
  const t = probe.lower;
  // Most values hold no break at all: four native searches instead of a loop over every character.
  if (t.indexOf('\n') === -1 && t.indexOf('\r') === -1 && t.indexOf('\u560a') === -1 && t.indexOf('\u560d') === -1) return undefined;
  // Query values are often echoed into `Location` or logs; a search box cannot send a line break, a textarea can.
  if (SINGLE_LINE.has(probe.location) || (paranoia >= 3 && probe.location === 'query')) {
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c === 10 || c === 13) return hit('crlf-line-break');
      if (c === 0x560a || c === 0x560d) return hit('crlf-unicode-truncation');
    }
    return undefined;
  }
  for (let i = 0; i < t.length; i++) {
    if (!isBreak(t.charCodeAt(i))) continue;
    let start = i + 1;
    while (start < t.length && isBreak(t.charCodeAt(start))) start++;
    const line = injectedLine(t, start);
    if (line) return line;
    i = start - 1;
  }
  return undefined;
};

/** CR, LF, and the two code points naive encoders truncate to them. */
function isBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 0x560a || c === 0x560d;
}

/** Verdict on the line starting at `at` (just after a line break). */
function injectedLine(t: string, at: number): Hit | undefined {
  const start = skipSpaces(t, at, 4);
  const name = readWord(t, start, 40, true);
  if (name !== '' && t[skipSpaces(t, start + name.length, 2)] === ':' && HEADERS.has(name)) return hit('crlf-header-injection');
  for (const prefix of SMTP_PREFIX) if (t.startsWith(prefix, start)) return hit('crlf-mail-command');
  if (SMTP_ALONE.has(name)) {
    const end = start + name.length;
    if (end >= t.length || t.charCodeAt(end) === 13 || t.charCodeAt(end) === 10) return hit('crlf-mail-command');
  }
  // IMAP: a tag with a digit (`a1`, `v100`), one space, a command.
  let i = start;
  let digit = false;
  while (i < t.length && i - start < 12 && (isLetterCode(t.charCodeAt(i)) || (t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57))) {
    if (t.charCodeAt(i) <= 57) digit = true;
    i++;
  }
  if (digit && t[i] === ' ' && IMAP.has(readWord(t, i + 1, 16))) return hit('crlf-mail-command');
  return undefined;
}
