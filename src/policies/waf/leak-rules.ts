import { someOccurrence } from './text.ts';

/**
 * What an upstream must never send a client: database error messages, stack traces, framework debug pages,
 * private keys and cloud credentials. Substring and hand-written token scans only (linear, no regular expressions
 * on the body). Credential formats are matched case-sensitively on the original text by prefix and length, as the
 * providers document them.
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

/** The first leak in `text`, or undefined. Linear in the text length. */
export function detectLeak(text: string): Leak | undefined {
  const lower = text.toLowerCase();
  for (const needle of SQL_ERRORS) if (lower.includes(needle)) return { kind: 'sql_error', rule: 'leak-sql-error' };
  const trace = stackTrace(lower);
  if (trace) return { kind: 'stack_trace', rule: trace };
  for (const needle of DEBUG_PAGES) if (lower.includes(needle)) return { kind: 'debug_page', rule: 'leak-debug-page' };
  if (lower.includes('-----begin') && lower.includes('private key-----')) return { kind: 'private_key', rule: 'leak-private-key' };
  const credential = credentialIn(text);
  if (credential) return { kind: 'credential', rule: credential };
  return undefined;
}

function stackTrace(t: string): string | undefined {
  if (t.includes('traceback (most recent call last)')) return 'leak-stack-python';
  if ((t.includes('\tat ') || t.includes('\n    at ')) && (t.includes('.java:') || t.includes('(native method)') || t.includes('exception in thread'))) return 'leak-stack-java';
  if (t.includes('\n    at ') && (t.includes('.js:') || t.includes('.ts:') || t.includes('.mjs:') || t.includes('node:internal') || t.includes('<anonymous>'))) return 'leak-stack-node';
  if (t.includes('stack trace:') && t.includes('#0 ')) return 'leak-stack-php';
  if ((t.includes('fatal error: ') || t.includes('parse error: ') || t.includes('warning: ')) && t.includes(' on line ') && t.includes('.php')) return 'leak-stack-php';
  if (t.includes('   at system.') || t.includes('system.nullreferenceexception') || (t.includes('stack trace:') && t.includes('.cs:line'))) return 'leak-stack-dotnet';
  if (t.includes('.rb:') && t.includes(":in `")) return 'leak-stack-ruby';
  if (t.includes('goroutine ') && t.includes('panic: ')) return 'leak-stack-go';
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
