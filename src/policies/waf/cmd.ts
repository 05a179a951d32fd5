import { needleGroup } from './needles.ts';
import { isLetterCode, isSpaceCode, isWordCode, readWord, skipSpaces, someOccurrence, wordStart } from './text.ts';
import type { Detector, Hit } from './types.ts';

/**
 * OS command injection: a command separator (`;`, `|`, `&`, newline, backtick, `$(`) followed by a known program,
 * read after shell quote removal (`c'a't` is `cat`) with `${IFS}`/`$IFS$9`/`+` as spaces; programs that are also
 * English words (`cat`, `id`, `set`) count only with a shell-looking argument (`-x`, `/path`, `$var`, `~`, end of
 * text) below level 3. Also: `$(…)`/`${IFS}`, shellshock `() { :; }`, `/bin/sh`, server-side includes
 * (`<!--#exec`), PHP/ASP code-execution calls and YAML deserialisation tags.
 */

const hit = (rule: string): Hit => ({ family: 'cmd', rule });

/** Programs whose name is not an English word: any argument (or none) after a separator is enough. */
const STRONG = new Set([
  'whoami', 'uname', 'wget', 'getent', 'nslookup', 'ifconfig', 'ipconfig', 'netcat', 'ncat', 'bash', 'zsh', 'ksh', 'csh', 'tcsh',
  'powershell', 'pwsh', 'certutil', 'systeminfo', 'chmod', 'chown', 'python2', 'python3', 'nc', 'telnet',
  'tftp', 'busybox', 'xterm', 'nohup', 'wmic', 'bitsadmin', 'mshta', 'rundll32', 'regsvr32', 'cscript', 'wscript', 'netstat', 'traceroute', 'tracert',
  'useradd', 'sudo', 'crontab', 'base64', 'xxd', 'tasklist', 'taskkill', 'sh',
]);
/** Programs that are also words people write (`cat`, `id`, `set`, `ping`): need a shell-looking argument below level 3. */
const WEAK = new Set(['curl', 'python', 'perl', 'ruby', 'php', 'lua', 'node', 'dash', 'dig', 'host', 'arp', 'ps', 'uptime', 'hostname', 'passwd', 'cmd', 'cat', 'ls', 'id', 'set', 'echo', 'ping', 'sleep', 'type', 'find', 'more', 'head', 'tail', 'kill', 'touch', 'dir', 'net', 'rm', 'cp', 'mv', 'env', 'exec', 'eval', 'less', 'grep', 'sort', 'awk', 'sed', 'export', 'printf', 'timeout', 'whois', 'ver', 'time']);
const CODE_CALLS = ['system(', 'passthru(', 'shell_exec(', 'popen(', 'proc_open(', 'pcntl_exec(', 'phpinfo(', 'base64_decode(', 'exec(', 'createobject(', 'wscript.shell', 'server.scripttimeout', 'on error resume next', 'runtime.getruntime', 'processbuilder(', 'child_process', 'os.system', 'subprocess.', '__import__(', 'response.write('];
const SSI = ['<!--#exec', '<!--#include', '<!--#echo', '<!--#printenv', '<!--#config', '<!--#set'];
const SSI_GROUP = needleGroup(SSI);
const CODE_CALL_GROUP = needleGroup(CODE_CALLS);


export const detectCmd: Detector = (probe, paranoia) => {
  const t = probe.lower;
  if (t.length < 2) return undefined;
  if (probe.groups & SSI_GROUP) return hit('cmd-ssi');
  if (t.includes('${ifs') || t.includes('$ifs')) return hit('cmd-ifs');
  if (t.includes('() {') && t.includes(':;')) return hit('cmd-shellshock');
  if (t.includes('!!python/') || t.includes('!!ruby/') || t.includes('!!java') || t.includes('!!javax')) return hit('cmd-yaml-tag');
  if (t.includes('<?php') || t.includes('${@')) return hit('cmd-php-code');
  if (probe.groups & CODE_CALL_GROUP) for (const call of CODE_CALLS) {
    // "operating system(s)" is prose, not a call.
    if (someOccurrence(t, call, (at) => wordStart(t, at) && !t.startsWith('s)', at + call.length))) return hit('cmd-code-exec');
  }
  const shell = shellForm(t);
  if (binPath(shell)) return hit('cmd-bin-path');
  return separated(shell, paranoia);
};

/**
 * The text as a shell would see the words: quotes and backslashes removed, `${IFS}`-style and `+` spacing made
 * spaces (so `c'a't+/et"c"/pas\swd` reads `cat /etc/passwd`). Linear; never longer than the input.
 */
export function shellForm(t: string): string {
  // Native passes (a one-character class has nothing to backtrack); most text has none of these characters.
  let out = t;
  if (out.includes("'") || out.includes('"') || out.includes('\\')) out = out.replace(/['"\\]/g, '');
  // Expansions that are empty in a shell and split a word for a filter: `c${x}at`, `c$@at`, `who$()ami`, `w``hoami`
  // (every alternative is bounded, so the pass is linear).
  if (out.includes('$') || out.includes('``')) out = out.replace(/\$\{\w{1,32}\}|\$[@*]|\$\(\)|``/g, (m) => (m === '${ifs}' ? ' ' : ''));
  return out.includes('+') ? out.replaceAll('+', ' ') : out;
}

/** `/bin/sh`, `/usr/bin/id`, `/bin/bash -c`, `cmd.exe`, `powershell.exe`. */
function binPath(t: string): boolean {
  if (t.includes('cmd.exe') || t.includes('powershell.exe') || t.includes('/dev/tcp/')) return true;
  return someOccurrence(t, 'bin/', (at) => {
    const before = t.slice(Math.max(0, at - 5), at);
    if (!(before.endsWith('/') || before.endsWith('/usr/') || before.endsWith('/s') || at === 0)) return false;
    const name = readWord(t, at + 4, 16);
    return STRONG.has(name) || WEAK.has(name);
  });
}

/** Where a separator may start: `;`, `|`, `&`, newline, backtick, `$` (of `$(`). */
const SEPARATOR = /[;|&\n\r`$]/g;

/** Index right after a separator's end, for each separator occurrence: `;`, `|`, `&`, newline, backtick, `$(`. */
function separated(t: string, paranoia: number): Hit | undefined {
  // The next separator candidate by a native single-class search, not a visit of every character.
  SEPARATOR.lastIndex = 0;
  for (let found = SEPARATOR.exec(t); found !== null; found = SEPARATOR.exec(t)) {
    let i = found.index;
    const c = t.charCodeAt(i);
    let after = -1;
    let substitution = false;
    if (c === 59 || c === 124 || c === 38 || c === 10 || c === 13) after = i + 1;
    else if (c === 96) {
      after = i + 1;
      substitution = true;
    } else if (c === 36 && t.charCodeAt(i + 1) === 40) {
      if (t.charCodeAt(i + 2) === 40) return hit('cmd-substitution');
      after = i + 2;
      substitution = true;
    }
    if (after < 0) continue;
    while (after < t.length && (t.charCodeAt(after) === 124 || t.charCodeAt(after) === 38)) after++;
    // Every separator of a run (`||`, `&&`, `|||…`) reads the same program: the run is visited once (a run of
    // a million `|` is otherwise re-skipped from each of its characters, quadratic).
    if (after - 1 > i) {
      i = after - 1;
      SEPARATOR.lastIndex = after;
    }
    let start = skipSpaces(t, after, 16);
    if (t.charCodeAt(start) === 47 && globPath(t, start)) return hit('cmd-glob-path');
    // Brace expansion: `{ls,-la}` runs `ls -la`.
    const brace = t.charCodeAt(start) === 123;
    if (brace) start++;
    if (!isLetterCode(t.charCodeAt(start))) continue;
    const name = readWord(t, start, 16);
    const end = start + name.length;
    const next = t.charCodeAt(end);
    // `cat.` or `ls_x` are not a program call.
    if (end < t.length && !(isSpaceCode(next) || next === 59 || next === 124 || next === 38 || next === 96 || next === 60 || next === 62 || next === 36 || next === 41 || (brace && next === 44))) {
      if (!(STRONG.has(name) && (next === 47 || next === 46))) continue;
    }
    if (STRONG.has(name)) return hit(substitution ? 'cmd-substitution' : 'cmd-separator-program');
    if (!WEAK.has(name)) continue;
    if (substitution || paranoia >= 3 || (brace && next === 44) || shellArgument(t, end) || ((name === 'sleep' || name === 'timeout') && delayArgument(t, end))) {
      return hit(substitution ? 'cmd-substitution' : 'cmd-separator-program');
    }
  }
  return undefined;
}

/** After a program name: end of text, another separator, a redirection, or an argument starting `-`, `/`, `$`, `~`, `.`, `\\`. */
function shellArgument(t: string, at: number): boolean {
  const i = skipSpaces(t, at, 16);
  if (i >= t.length) return true;
  const c = t.charCodeAt(i);
  if (c === 59 || c === 124 || c === 38 || c === 96 || c === 62 || c === 60 || c === 36 || c === 126) return true;
  if (c === 45) return isWordCode(t.charCodeAt(i + 1)) && i > at;
  if (t.startsWith('http://', i) || t.startsWith('https://', i) || t.startsWith('ftp://', i)) return true;
  // A Windows drive path: `dir c:\\`, `type c:/boot.ini`.
  // (shellForm has dropped the backslash of `c:\\`).
  if (i > at && isLetterCode(c) && t.charCodeAt(i + 1) === 58 && (i + 2 >= t.length || t.charCodeAt(i + 2) === 92 || t.charCodeAt(i + 2) === 47)) return true;
  if (c === 47 || c === 46) return i > at && (isWordCode(t.charCodeAt(i + 1)) || t.charCodeAt(i + 1) === 46 || t.charCodeAt(i + 1) === 47);
  return false;
}

/** `sleep 5`, `timeout 10`: a number, then the end of the text, another separator or a comment (blind timing probes). */
function delayArgument(t: string, at: number): boolean {
  let i = skipSpaces(t, at, 16);
  if (i === at) return false;
  const digits = i;
  while (i < t.length && i - digits < 8 && t.charCodeAt(i) >= 48 && t.charCodeAt(i) <= 57) i++;
  if (i === digits) return false;
  i = skipSpaces(t, i, 16);
  if (i >= t.length) return true;
  const c = t.charCodeAt(i);
  return c === 59 || c === 124 || c === 38 || c === 96 || c === 35 || c === 41 || c === 10;
}

/**
 * `/???/??t /???/p??s??`, `/usr/bin/wh?ami`: a path right after a separator that globs a program the shell then
 * runs — a directory of wildcards only (three or more), or a last segment whose `?`s match a known program.
 */
function globPath(t: string, at: number): boolean {
  let i = at;
  let segment = at + 1;
  let wildcards = false;
  let wildDir = false;
  for (; i < t.length && i - at < 64; i++) {
    const c = t.charCodeAt(i);
    if (c === 47) {
      if (i - segment >= 3 && allWildcards(t, segment, i)) wildDir = true;
      segment = i + 1;
      continue;
    }
    if (c === 63 || c === 42) wildcards = true;
    else if (!(isWordCode(c) || c === 46 || c === 45)) break;
  }
  if (!wildcards) return false;
  return wildDir || globsProgram(t.slice(segment, i));
}

function allWildcards(t: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (t.charCodeAt(k) !== 63 && t.charCodeAt(k) !== 42) return false;
  return true;
}

/** Whether `pattern` (letters and `?`) matches one of the known programs. */
function globsProgram(pattern: string): boolean {
  // At least one letter as written: `/???` alone is punctuation, not a program.
  if (pattern.length < 2 || !pattern.includes('?') || pattern.includes('*') || allWildcards(pattern, 0, pattern.length)) return false;
  for (const names of [STRONG, WEAK]) {
    for (const name of names) {
      if (name.length !== pattern.length) continue;
      let ok = true;
      for (let k = 0; k < name.length && ok; k++) if (pattern[k] !== '?' && pattern[k] !== name[k]) ok = false;
      if (ok) return true;
    }
  }
  return false;
}
