/**
 * Scans copies of Rampart's databases for secrets and personal data in clear (issue 16, docs/encryption-at-rest.md):
 * every SQLite file under the given paths — its rows, read through `node:sqlite` opened read-only, and its raw bytes
 * with the WAL and any rollback journal, where freed pages and old frames keep earlier values — and a `pg_dump`.
 * `npm test` runs it over every store the suite leaves behind (scripts/test-run.ts).
 *
 * A finding is:
 * - a known secret: the suite's fixed secrets (test/helpers/suite-secrets.ts), or one Rampart or the test keeps
 *   beside the database (pepper, KEK, audit keys, TLS and signing keys, tokens: files in the database's directory
 *   and its parent), in clear or as hex/base64/raw bytes;
 * - a shape: a Rampart API key (checksum valid), a PEM private key, a client IP of test traffic (the documentation
 *   ranges and 127.0.0.1; the host of a URL is a server's address from the config, not a client's), an e-mail address;
 * - a value other than an envelope in a column the documentation lists as encrypted;
 * - a row left in a legacy table in clear that a start must drain (`rampart_blocks`).
 * In clear by design, so not findings: ids, hashes, keyids, public keys, and the subjects, consumers and actors of the
 * audit trail (an e-mail there is a subject).
 *
 * Usage: node scripts/store-scan.ts [--pg] [--pg-dump FILE] PATH...  (--pg runs pg_dump on RAMPART_TEST_PG_URL);
 * exits 1 on any finding. Findings never hold a value in full.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseApiKey } from '../src/policies/authn-apikey/format.ts';
import { isEnvelope } from '../src/store/encryption/cipher.ts';

/** The test database, as the tests reach it (RAMPART_TEST_PG_URL overrides). */
export const TEST_PG_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface Secret {
  /** What it is and where the suite defines it: printed instead of the value. */
  readonly label: string;
  readonly value: string;
}

export type FindingKind = 'known-secret' | 'api-key' | 'private-key' | 'client-ip' | 'email' | 'plaintext-in-encrypted-column' | 'legacy-table-not-drained';

export interface Finding {
  readonly file: string;
  /** `table.column (row …)`, or where in the raw bytes (page, WAL frame). */
  readonly where: string;
  readonly kind: FindingKind;
  /** The secret's label or a redacted preview: never the value in full. */
  readonly detail: string;
}

export interface ScanReport {
  sqliteFiles: number;
  /** WAL and rollback-journal files scanned with their database. */
  walFiles: number;
  rows: number;
  pgTables: number;
  readonly findings: Finding[];
  /** Files whose rows could not be read (their raw bytes were still scanned). */
  readonly warnings: string[];
}

/** docs/encryption-at-rest.md: the columns that hold only envelopes (`rk1.…`). */
export const ENCRYPTED_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  consumers: ['name', 'metadata'],
  api_keys: ['metadata'],
  admin_events: ['details'],
  signature_keys: ['secret'],
  rampart_incidents: ['data', 'incident_key'],
  rampart_ip_blocks: ['ip'],
};
/** Tables of older versions in clear that every start moves to an encrypted table and empties. */
const DRAINED_TABLES = new Set(['rampart_blocks']);
/** Audit-trail fields in clear by design (docs/encryption-at-rest.md): an e-mail there is a subject, not a leak. */
const AUDIT_ID_KEYS = new Set(['subject', 'consumer', 'actor']);
/** Files beside a database that hold a secret (one line), besides any PEM private key. */
const SECRET_FILE = /^(key-pepper|store-kek|kek.*|.*\.key|secret.*|.*\.token)$/;

const API_KEY = /rk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}/g;
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;
const PRIVATE_KEY = new RegExp(PEM_PRIVATE_KEY.source, 'g');
const CLIENT_IP = /(?<![\d.@]|\/\/)(?:(?:203\.0\.113|198\.51\.100|192\.0\.2)\.\d{1,3}|127\.0\.0\.1)(?!\d)|(?<![0-9A-Fa-f:]|\/\/\[)2001:db8:[0-9A-Fa-f:]*[0-9A-Fa-f]/gi;
const EMAIL = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])/g;
/** In raw bytes a value has no boundary of its own: an e-mail counts there only between text delimiters. */
const RAW_BEFORE = new Set([undefined, '"', "'", '<', '(', ' ', ',', ':', ';', '=', '\t', '\n', '[']);
const RAW_AFTER = new Set([undefined, '"', "'", '>', ')', ' ', ',', ';', '\t', '\n', ']']);

/** `abcd…(40 chars)`: enough to find the value, not enough to use it. */
export function redact(value: string): string {
  return `${value.slice(0, 4)}…(${value.length} chars)`;
}

interface Hit {
  readonly kind: FindingKind;
  readonly match: string;
  readonly index: number;
  readonly detail: string;
}

/** The known secrets of one scan, as one regex over every encoding of each. */
class Needles {
  readonly #labels = new Map<string, string>();
  readonly #regex: RegExp | undefined;

  constructor(secrets: readonly Secret[]) {
    for (const { label, value } of secrets) for (const form of encodings(value)) if (form.length >= 8 && !this.#labels.has(form)) this.#labels.set(form, label);
    const forms = [...this.#labels.keys()].sort((a, b) => b.length - a.length);
    this.#regex = forms.length ? new RegExp(forms.map((f) => f.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|'), 'g') : undefined;
  }

  find(text: string): Hit[] {
    if (!this.#regex) return [];
    return [...text.matchAll(this.#regex)].map((m) => ({ kind: 'known-secret', match: m[0], index: m.index, detail: this.#labels.get(m[0])! }));
  }
}

/** The value, and when it is key material in hex or base64(url), the same bytes in the other encodings. */
function encodings(value: string): string[] {
  let bytes: Buffer | undefined;
  if (/^(?:[0-9a-f]{2}){16,}$/i.test(value)) bytes = Buffer.from(value, 'hex');
  else if (/^[A-Za-z0-9+/_-]{22,}={0,2}$/.test(value)) {
    const decoded = Buffer.from(value, value.includes('+') || value.includes('/') || value.endsWith('=') ? 'base64' : 'base64url');
    const again = value.includes('+') || value.includes('/') || value.endsWith('=') ? decoded.toString('base64') : decoded.toString('base64url');
    if (decoded.length >= 16 && again.replace(/=+$/, '') === value.replace(/=+$/, '')) bytes = decoded;
  }
  if (!bytes) return [value];
  return [value, bytes.toString('hex'), bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('latin1')];
}

/** Every secret and shape in `text`. `raw`: the text is a file's bytes (latin1), not one value. */
function detect(text: string, needles: Needles, raw: boolean): Hit[] {
  const hits = needles.find(text);
  for (const m of text.matchAll(API_KEY)) if (parseApiKey(m[0])) hits.push({ kind: 'api-key', match: m[0], index: m.index, detail: redact(m[0]) });
  for (const m of text.matchAll(PRIVATE_KEY)) hits.push({ kind: 'private-key', match: m[0], index: m.index, detail: m[0] });
  for (const m of text.matchAll(CLIENT_IP)) hits.push({ kind: 'client-ip', match: m[0], index: m.index, detail: redact(m[0]) });
  for (const m of text.matchAll(EMAIL)) {
    if (raw && !(RAW_BEFORE.has(text[m.index - 1]) && RAW_AFTER.has(text[m.index + m[0].length]))) continue;
    hits.push({ kind: 'email', match: m[0], index: m.index, detail: redact(m[0]) });
  }
  return hits;
}

/** The strings at the audit trail's identity keys, at any depth of a JSON record. */
function auditIds(json: string): string[] {
  const out: string[] = [];
  const walk = (node: unknown, key?: string): void => {
    if (typeof node === 'string') {
      if (key !== undefined && AUDIT_ID_KEYS.has(key)) out.push(node);
    } else if (Array.isArray(node)) for (const item of node) walk(item, key);
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, k);
  };
  try {
    walk(JSON.parse(json));
  } catch {
    // Not JSON: no identity fields to waive.
  }
  return out;
}

/** Scans one value of a row; returns the strings it judged (flagged or waived), so the raw scan skips them. */
function scanCell(findings: Finding[], file: string, table: string, column: string, row: string, value: string, needles: Needles): string[] {
  const where = `${table}.${column} (${row})`;
  const encrypted = ENCRYPTED_COLUMNS[table]?.includes(column) ?? false;
  if (encrypted && !isEnvelope(value)) findings.push({ file, where, kind: 'plaintext-in-encrypted-column', detail: redact(value) });
  const waived = table === 'audit_records' ? auditIds(value) : [];
  const hits = detect(value, needles, false);
  const reported = new Set<string>();
  for (const hit of hits) {
    if (hit.kind === 'email' && waived.some((id) => id.includes(hit.match))) continue;
    if (reported.has(`${hit.kind}\u0000${hit.match}`)) continue; // the same value twice in one cell: once
    reported.add(`${hit.kind}\u0000${hit.match}`);
    findings.push({ file, where, kind: hit.kind, detail: hit.detail });
  }
  return hits.map((h) => h.match);
}

/** The secrets kept beside a database: files in its directory and the one above (never above the scan root). */
function besideSecrets(db: string, root: string, cache: Map<string, Secret[]>): Secret[] {
  const out: Secret[] = [];
  for (const dir of [dirname(db), dirname(dirname(db))]) {
    if (relative(root, dir).startsWith('..')) continue;
    let secrets = cache.get(dir);
    if (!secrets) {
      secrets = [];
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (!entry.isFile() || statSync(path).size > 65_536) continue;
        const text = readFileSync(path, 'utf8').trim();
        const label = `${entry.name} beside the database`;
        if (PEM_PRIVATE_KEY.test(text)) {
          for (const block of text.split(/-----END [A-Z0-9 ]*-----/)) {
            const body = block.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
            if (body.length >= 16 && /^[A-Za-z0-9+/=]+$/.test(body)) secrets.push({ label, value: body });
          }
        } else if (SECRET_FILE.test(entry.name) && text.length >= 16 && !/\s/.test(text)) secrets.push({ label, value: text });
      }
      cache.set(dir, secrets);
    }
    out.push(...secrets);
  }
  return out;
}

function isSqlite(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.toString('latin1') === 'SQLite format 3\u0000';
  } finally {
    closeSync(fd);
  }
}

function sqliteFiles(path: string): string[] {
  const stat = statSync(path);
  if (stat.isFile()) return isSqlite(path) ? [path] : [];
  if (!stat.isDirectory()) return [];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() || e.isFile() ? sqliteFiles(join(path, e.name)) : []));
}

/** Reads a database's rows; returns the page → table map of its live pages and the values it judged. */
function scanRows(report: ScanReport, file: string, needles: Needles): { pages: Map<number, string>; judged: string[] } {
  const pages = new Map<number, string>();
  const judged: string[] = [];
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all() as { name: string }[]) {
      let rows: Iterable<Record<string, unknown>>;
      try {
        rows = db.prepare(`SELECT rowid AS "scan_rowid_", * FROM "${name}"`).iterate() as Iterable<Record<string, unknown>>;
      } catch {
        rows = db.prepare(`SELECT * FROM "${name}"`).iterate() as Iterable<Record<string, unknown>>; // WITHOUT ROWID
      }
      let n = 0;
      for (const row of rows) {
        n++;
        const id = row['scan_rowid_'] !== undefined ? `rowid ${String(row['scan_rowid_'])}` : `row ${n}`;
        for (const [column, value] of Object.entries(row)) {
          if (column === 'scan_rowid_') continue;
          const text = typeof value === 'string' ? value : value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : undefined;
          if (text !== undefined) judged.push(...scanCell(report.findings, file, name, column, id, text, needles));
        }
      }
      report.rows += n;
      if (DRAINED_TABLES.has(name) && n > 0) report.findings.push({ file, where: `${name} (${n} rows)`, kind: 'legacy-table-not-drained', detail: 'rows of an older version in clear, not moved at start' });
    }
    try {
      for (const { name, pageno } of db.prepare('SELECT name, pageno FROM dbstat').all() as { name: string; pageno: number }[]) pages.set(pageno, name);
    } catch {
      // dbstat is not compiled in: raw findings name the page only.
    }
  } finally {
    db.close();
  }
  return { pages, judged };
}

/** Raw bytes are read as text in windows of this size (a string has at most 512 MiB), overlapping by a match's length. */
const WINDOW = 64 << 20;
const OVERLAP = 4096;

/** Scans a file's raw bytes (the database, its WAL or its journal) for what no live row holds. */
function scanRaw(report: ScanReport, file: string, bytes: Buffer, kind: 'db' | 'wal' | 'journal', pageSize: number, pages: Map<number, string>, live: string, needles: Needles): void {
  const seen = new Set<string>();
  for (let start = 0; start < bytes.length; start += WINDOW) {
    const text = bytes.toString('latin1', start, Math.min(bytes.length, start + WINDOW + OVERLAP));
    for (const hit of detect(text, needles, true)) {
      if (hit.index >= WINDOW || live.includes(hit.match)) continue; // the next window's, or in a live row: judged there
      const offset = start + hit.index;
      let where: string;
      if (kind === 'db') {
        const page = Math.floor(offset / pageSize) + 1;
        where = `raw bytes, page ${page} (${pages.has(page) ? `a page of ${pages.get(page)}, in no live row: a freed cell` : 'in no table: a free page'})`;
      } else if (kind === 'wal') {
        const frame = Math.max(0, Math.floor((offset - 32) / (pageSize + 24)));
        const page = bytes.readUInt32BE(Math.min(32 + frame * (pageSize + 24), bytes.length - 4));
        where = `WAL frame ${frame + 1} (page ${page}${pages.has(page) ? ` of ${pages.get(page)}` : ''}), in no live row: an older version of the page`;
      } else where = `rollback journal, byte ${offset}`;
      const key = `${hit.kind}\u0000${hit.detail}\u0000${where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      report.findings.push({ file, where, kind: hit.kind, detail: hit.detail });
    }
  }
}

/**
 * Scans every SQLite file under `paths` (files or directories), with its WAL and rollback journal.
 * @param secrets the known secrets (the suite's); the secrets kept beside each database are added to them.
 */
export function scanStores(paths: readonly string[], secrets: readonly Secret[], report: ScanReport = newReport()): ScanReport {
  const cache = new Map<string, Secret[]>();
  for (const root of paths) {
    for (const file of sqliteFiles(root)) {
      report.sqliteFiles++;
      const needles = new Needles([...secrets, ...besideSecrets(file, statSync(root).isDirectory() ? root : dirname(root), cache)]);
      let rows = { pages: new Map<number, string>(), judged: [] as string[] };
      try {
        rows = scanRows(report, file, needles);
      } catch (error) {
        report.warnings.push(`${file}: rows not readable (${(error as Error).message}); its raw bytes were scanned`);
      }
      const live = rows.judged.join('\n');
      const bytes = readFileSync(file);
      const pageSize = bytes.readUInt16BE(16) === 1 ? 65_536 : bytes.readUInt16BE(16);
      scanRaw(report, file, bytes, 'db', pageSize, rows.pages, live, needles);
      for (const [suffix, kind] of [['-wal', 'wal'], ['-journal', 'journal']] as const) {
        const side = `${file}${suffix}`;
        if (existsSync(side) && statSync(side).size > 0) {
          report.walFiles++;
          scanRaw(report, side, readFileSync(side), kind, pageSize, rows.pages, live, needles);
        }
      }
    }
  }
  return report;
}

/** Undoes the text format's escapes of a `COPY … FROM stdin` field; `\N` is NULL. */
function copyField(field: string): string | undefined {
  if (field === '\\N') return undefined;
  return field.replace(/\\(.)/g, (_, c: string) => ({ t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', v: '\v' })[c] ?? c);
}

/** Scans a plain-text `pg_dump`: the rows of every `COPY` block by table and column, and every other line. */
export function scanPgDump(dump: string, secrets: readonly Secret[], label = 'pg_dump', report: ScanReport = newReport()): ScanReport {
  const needles = new Needles(secrets);
  let copy: { table: string; columns: string[] } | undefined;
  const lines = dump.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (copy) {
      if (line === '\\.') {
        copy = undefined;
        continue;
      }
      report.rows++;
      line.split('\t').forEach((field, c) => {
        const value = copyField(field);
        if (value !== undefined) scanCell(report.findings, label, copy!.table, copy!.columns[c] ?? `#${c + 1}`, `line ${i + 1}`, value, needles);
      });
      continue;
    }
    const header = /^COPY (\S+) \((.*)\) FROM stdin;$/.exec(line);
    if (header) {
      report.pgTables++;
      const unquote = (s: string) => s.trim().replace(/^"|"$/g, '');
      copy = { table: unquote(header[1]!.split('.').at(-1)!), columns: header[2]!.split(',').map(unquote) };
      continue;
    }
    for (const hit of detect(line, needles, false)) report.findings.push({ file: label, where: `line ${i + 1}`, kind: hit.kind, detail: hit.detail });
  }
  return report;
}

/** A plain-text dump of the whole database at `url` (schema and data, no owners). */
export function pgDump(url: string): string {
  return execFileSync('pg_dump', ['--no-owner', '--no-privileges', url], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 300_000 });
}

export function newReport(): ScanReport {
  return { sqliteFiles: 0, walFiles: 0, rows: 0, pgTables: 0, findings: [], warnings: [] };
}

/** The report as text: counts, then each finding (file, where, kind, label or preview), then the warnings. */
export function formatReport(report: ScanReport): string {
  const byKind = new Map<string, number>();
  for (const f of report.findings) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const lines = [
    `store scan: ${report.sqliteFiles} SQLite files (+${report.walFiles} WAL/journal), ${report.pgTables} pg_dump tables, ${report.rows} rows: ` +
      (report.findings.length ? `${report.findings.length} findings (${[...byKind].map(([k, n]) => `${k}: ${n}`).join(', ')})` : 'no secret in clear'),
    ...report.findings.map((f) => `  ${f.file}: ${f.where}: ${f.kind}: ${f.detail}`),
    ...report.warnings.map((w) => `  warning: ${w}`),
  ];
  return lines.join('\n');
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const { SUITE_SECRETS } = await import('../test/helpers/suite-secrets.ts');
  const report = newReport();
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--pg') scanPgDump(pgDump(TEST_PG_URL), SUITE_SECRETS, 'pg_dump', report);
    else if (args[i] === '--pg-dump') scanPgDump(readFileSync(args[++i]!, 'utf8'), SUITE_SECRETS, basename(args[i]!), report);
    else paths.push(args[i]!);
  }
  scanStores(paths, SUITE_SECRETS, report);
  console.log(formatReport(report));
  process.exitCode = report.findings.length ? 1 : 0;
}
