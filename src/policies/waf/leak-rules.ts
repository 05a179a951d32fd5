import { NeedleIndex } from './needles.ts';
import { someOccurrence } from './text.ts';

/**
 * What an upstream must never send a client: database error messages, stack traces, framework debug pages,
 * private keys and cloud credentials. Substring and hand-written token scans only (linear, no regular expressions
 * on the body). Credential formats are matched case-sensitively on the original text by prefix and length, as the
 * providers document them: the one pass only tells whether one of their prefixes occurs in any case.
 */

export type LeakKind = 'sql_error' | 'stack_trace' | 'debug_page' | 'private_key' | 'credential';

export interface Leak {
  readonly kind: LeakKind;
  readonly rule: string;
}

const SQL_ERRORS = [
  'you have an error in your sql syntax', 'warning: mysql_', 'mysqli_sql_exception', 'unclosed quotation mark after the character string',
  'quoted string not properly terminated', 'pg::syntaxerror', 'error: syntax error at or near', 'sqlite3::sqlexception', 'sqlite3.operationalerror',
  'sqlite_error', 'sqliteexception', 'microsoft ole db provider for sql server', 'odbc sql server driver', 'syntax error in string in query expression',
  'sqlstate[', 'org.postgresql.util.psqlexception', 'com.mysql.jdbc', 'java.sql.sqlexception', 'ora-00933', 'ora-01756', 'ora-00942', 'ora-01789',
  'db2 sql error', 'sqlcode=', 'unterminated quoted string at or near', 'psycopg2.errors', 'sequelizedatabaseerror', 'er_parse_error', 'sql syntax error',
  'incorrect syntax near',
];
const DEBUG_PAGES = [
  'werkzeug debugger', "you're seeing this error because you have <code>debug = true</code>", "you're seeing this error because you have debug = true",
  '<title>action controller: exception caught</title>', '<title>phpinfo()</title>', 'whoops! there was an error', 'ignition-', 'symfony\\component\\',
  '<b>fatal error</b>:', '<b>warning</b>:', 'server error in \'/\' application', '__next_error__', 'laravel_session', 'debug toolbar',
];

const LEAKS = new NeedleIndex();
const SQL = LEAKS.group(SQL_ERRORS);
const DEBUG = LEAKS.group(DEBUG_PAGES);
const PYTHON = LEAKS.group(['traceback (most recent call last)']);
const TAB_AT = LEAKS.group(['\tat ']);
const NEWLINE_AT = LEAKS.group(['\n    at ']);
const JAVA = LEAKS.group(['.java:', '(native method)', 'exception in thread']);
const NODE = LEAKS.group(['.js:', '.ts:', '.mjs:', 'node:internal', '<anonymous>']);
const STACK_TRACE = LEAKS.group(['stack trace:']);
const FRAME_0 = LEAKS.group(['#0 ']);
const PHP_ERROR = LEAKS.group(['fatal error: ', 'parse error: ', 'warning: ']);
const ON_LINE = LEAKS.group([' on line ']);
const PHP_FILE = LEAKS.group(['.php']);
const DOTNET = LEAKS.group(['   at system.', 'system.nullreferenceexception']);
const CS_LINE = LEAKS.group(['.cs:line']);
const RUBY_FILE = LEAKS.group(['.rb:']);
const RUBY_IN = LEAKS.group([":in `"]);
const GOROUTINE = LEAKS.group(['goroutine ']);
const PANIC = LEAKS.group(['panic: ']);
const KEY_BEGIN = LEAKS.group(['-----begin']);
const KEY_END = LEAKS.group(['private key-----']);

/**
 * The first leak in a response body (its text, or its UTF-8 bytes: then no copy is made unless a credential prefix
 * occurs), or undefined. One pass over the body finds the phrases; linear in its length.
 */
export function detectLeak(body: string | Uint8Array): Leak | undefined {
  const found = typeof body === 'string' ? LEAKS.index(body).groups : LEAKS.groupsInBytes(body);
  const has = (groups: number) => (found & groups) === groups;
  if (has(SQL)) return { kind: 'sql_error', rule: 'leak-sql-error' };
  const trace = stackTrace(has);
  if (trace) return { kind: 'stack_trace', rule: trace };
  if (has(DEBUG)) return { kind: 'debug_page', rule: 'leak-debug-page' };
  if (has(KEY_BEGIN | KEY_END)) return { kind: 'private_key', rule: 'leak-private-key' };
  if (has(CREDENTIAL_PREFIX)) {
    const credential = credentialIn(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    if (credential) return { kind: 'credential', rule: credential };
  }
  return undefined;
}

function stackTrace(has: (groups: number) => boolean): string | undefined {
  if (has(PYTHON)) return 'leak-stack-python';
  if ((has(TAB_AT) || has(NEWLINE_AT)) && has(JAVA)) return 'leak-stack-java';
  if (has(NEWLINE_AT | NODE)) return 'leak-stack-node';
  if (has(STACK_TRACE | FRAME_0)) return 'leak-stack-php';
  if (has(PHP_ERROR | ON_LINE | PHP_FILE)) return 'leak-stack-php';
  if (has(DOTNET) || has(STACK_TRACE | CS_LINE)) return 'leak-stack-dotnet';
  if (has(RUBY_FILE | RUBY_IN)) return 'leak-stack-ruby';
  if (has(GOROUTINE | PANIC)) return 'leak-stack-go';
  return undefined;
}

const UPPER_DIGIT = (c: number) => (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
const ALNUM = (c: number) => UPPER_DIGIT(c) || (c >= 97 && c <= 122);
const URLSAFE = (c: number) => ALNUM(c) || c === 45 || c === 95;
const SLACK = (c: number) => ALNUM(c) || c === 45;

/** Token formats: prefix, character class of the rest, minimum length of the rest. */
const TOKENS: readonly (readonly [string, (c: number) => boolean, number, string])[] = [
  ['AKIA', UPPER_DIGIT, 16, 'leak-aws-access-key'],
  ['ASIA', UPPER_DIGIT, 16, 'leak-aws-access-key'],
  ['AIza', URLSAFE, 35, 'leak-gcp-api-key'],
  ['ghp_', ALNUM, 36, 'leak-github-token'],
  ['gho_', ALNUM, 36, 'leak-github-token'],
  ['ghu_', ALNUM, 36, 'leak-github-token'],
  ['ghs_', ALNUM, 36, 'leak-github-token'],
  ['ghr_', ALNUM, 36, 'leak-github-token'],
  ['github_pat_', URLSAFE, 22, 'leak-github-token'],
  ['xoxb-', SLACK, 20, 'leak-slack-token'],
  ['xoxp-', SLACK, 20, 'leak-slack-token'],
  ['xoxa-', SLACK, 20, 'leak-slack-token'],
  ['xoxr-', SLACK, 20, 'leak-slack-token'],
  ['xoxs-', SLACK, 20, 'leak-slack-token'],
  ['sk_live_', ALNUM, 24, 'leak-stripe-key'],
];
const PHRASES: readonly (readonly [string, string])[] = [
  ['aws_secret_access_key', 'leak-aws-secret'],
  ['"type": "service_account"', 'leak-gcp-service-account'],
  ['"private_key_id"', 'leak-gcp-service-account'],
  ['AccountKey=', 'leak-azure-storage-key'],
  ['SharedAccessKey=', 'leak-azure-sas-key'],
  ['hooks.slack.com/services/T', 'leak-slack-webhook'],
];

/** Lower-cased credential prefixes and phrases: when none occurs, the case-sensitive token scan is skipped. */
const CREDENTIAL_PREFIX = LEAKS.group([...PHRASES.map(([phrase]) => phrase.toLowerCase()), ...TOKENS.map(([prefix]) => prefix.toLowerCase())]);

function credentialIn(text: string): string | undefined {
  for (const [phrase, rule] of PHRASES) if (text.includes(phrase)) return rule;
  for (const [prefix, allowed, min, rule] of TOKENS) {
    const found = someOccurrence(
      text,
      prefix,
      (at) => {
        if (at > 0 && URLSAFE(text.charCodeAt(at - 1))) return false;
        let n = 0;
        for (let i = at + prefix.length; i < text.length && n < min; i++, n++) if (!allowed(text.charCodeAt(i))) break;
        return n >= min;
      },
      Number.MAX_SAFE_INTEGER,
    );
    if (found) return rule;
  }
  return undefined;
}
