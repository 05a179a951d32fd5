/**
 * The store scan `npm test` runs over every store the suite leaves behind (scripts/store-scan.ts) can fail: a tiny
 * SQLite file with a plaintext secret of each kind — in a live row, in a freed cell and in an older WAL frame — and a
 * pg_dump with plaintext rows are reported by file, table, column and kind, never with the value in full; a store
 * holding only what is in clear by design (envelopes, hashes, ids, URLs, audit subjects) is not.
 * The files here hold plaintext on purpose, so each test removes its directory.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { formatReport, scanPgDump, scanStores, type Finding } from '../scripts/store-scan.ts';
import { generateApiKey } from '../src/policies/authn-apikey/format.ts';
import { ADMIN_TOKEN } from './helpers/apikeys.ts';
import { SUITE_SECRETS } from './helpers/suite-secrets.ts';

const SCHEMA = `
  CREATE TABLE consumers (id TEXT PRIMARY KEY, name TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}');
  CREATE TABLE api_keys (id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}');
  CREATE TABLE audit_records (seq INTEGER PRIMARY KEY, fields TEXT NOT NULL);
  CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT);
`;
const envelope = () => `rk1.dk_${randomBytes(8).toString('hex')}.${randomBytes(40).toString('base64url')}`;
const kinds = (findings: readonly Finding[]) => [...new Set(findings.map((f) => f.kind))].sort();

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-store-scan-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A store holding only what is in clear by design. */
function cleanStore(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(SCHEMA);
  db.prepare('INSERT INTO consumers VALUES (?, ?, ?)').run('svc-a', envelope(), envelope());
  db.prepare('INSERT INTO api_keys VALUES (?, ?, ?)').run('k1', randomBytes(32).toString('hex'), envelope());
  const fields = { actor: 'self:alice (http://127.0.0.1:4100)', subject: 'user@example.com', ip: 'ip_0cda4e61b34885da1c772e17091cd986', name: '[redacted]', reason: 'introspection failed: http://127.0.0.1:42503 answered 503' };
  db.prepare('INSERT INTO audit_records VALUES (1, ?)').run(JSON.stringify(fields));
  db.prepare('INSERT INTO notes VALUES (?, ?)').run('upstream', 'postgres://postgres@127.0.0.1:5432/test, rk_wrong_1');
  return db;
}

test('a store with only what is in clear by design has no finding', () => {
  withDir((dir) => {
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'key-pepper'), randomBytes(32).toString('base64url'));
    cleanStore(join(dir, 'data', 'rampart.db')).close();
    const report = scanStores([dir], SUITE_SECRETS);
    assert.equal(report.sqliteFiles, 1);
    assert.deepEqual(report.findings, [], formatReport(report));
  });
});

test('a plaintext secret of each kind in live rows is reported by file, table, column and kind, never in full', () => {
  withDir((dir) => {
    const pepper = randomBytes(32).toString('base64url');
    writeFileSync(join(dir, 'key-pepper'), pepper);
    const apiKey = generateApiKey().key;
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = join(dir, 'rampart.db');
    const db = cleanStore(file);
    db.prepare('INSERT INTO consumers VALUES (?, ?, ?)').run('svc-b', 'Alice Liddell', JSON.stringify({ email: 'alice.liddell@example.org' }));
    const notes = db.prepare('INSERT INTO notes VALUES (?, ?)');
    notes.run('key', `issued ${apiKey}`);
    notes.run('pem', pem);
    notes.run('ip', JSON.stringify({ client: '203.0.113.7' }));
    notes.run('v6', 'from 2001:db8::beef:7');
    notes.run('token', `Bearer ${ADMIN_TOKEN}`);
    notes.run('pepper', Buffer.from(pepper, 'base64url').toString('hex'));
    db.exec('CREATE TABLE rampart_blocks (ip TEXT PRIMARY KEY, until_ms BIGINT NOT NULL)');
    db.prepare('INSERT INTO rampart_blocks VALUES (?, 1)').run('2001:db8::71');
    db.close();

    const report = scanStores([dir], SUITE_SECRETS);
    const at = (where: string) => report.findings.filter((f) => f.where.startsWith(where)).map((f) => f.kind).sort();
    assert.deepEqual(at('consumers.name'), ['plaintext-in-encrypted-column']);
    assert.deepEqual(at('consumers.metadata'), ['email', 'plaintext-in-encrypted-column']);
    assert.deepEqual(at('notes.body'), ['api-key', 'client-ip', 'client-ip', 'known-secret', 'known-secret', 'private-key']);
    assert.deepEqual(at('rampart_blocks'), ['client-ip', 'legacy-table-not-drained']);
    assert.ok(report.findings.every((f) => f.file === file));
    const labels = report.findings.filter((f) => f.kind === 'known-secret').map((f) => f.detail).sort();
    assert.deepEqual(labels, ['ADMIN_TOKEN (test/helpers/apikeys.ts)', 'key-pepper beside the database']);
    assert.ok(!report.findings.some((f) => f.where.startsWith('raw')), 'what a live row holds is reported once, by its row');
    const text = formatReport(report);
    for (const secret of [apiKey, pem.split('\n')[1]!, ADMIN_TOKEN, pepper, 'Alice Liddell', 'alice.liddell@example.org', '203.0.113.7']) assert.ok(!text.includes(secret), `the report holds ${secret.slice(0, 6)}… in full`);
  });
});

test('a secret left in a freed cell of the file or in an older WAL frame is reported from the raw bytes', () => {
  withDir((dir) => {
    const live = join(dir, 'live');
    const copy = join(dir, 'copy');
    mkdirSync(live);
    mkdirSync(copy);
    const db = new DatabaseSync(join(live, 'rampart.db'));
    db.exec('PRAGMA secure_delete = OFF');
    db.exec(SCHEMA);
    db.prepare('INSERT INTO notes VALUES (?, ?)').run('gone', JSON.stringify({ email: 'deleted.person@example.org' }));
    db.prepare("DELETE FROM notes WHERE id = 'gone'").run();
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA wal_autocheckpoint = 0');
    db.prepare('INSERT INTO notes VALUES (?, ?)').run('ip', 'seen from 198.51.100.23');
    db.prepare("UPDATE notes SET body = 'nothing' WHERE id = 'ip'").run();
    // A copy taken while the database is open, WAL included: what a backup of a running instance holds.
    for (const f of ['rampart.db', 'rampart.db-wal', 'rampart.db-shm']) copyFileSync(join(live, f), join(copy, f));
    db.close();

    const report = scanStores([copy], SUITE_SECRETS);
    assert.equal(report.walFiles, 1);
    assert.deepEqual(kinds(report.findings), ['client-ip', 'email'], formatReport(report));
    const email = report.findings.find((f) => f.kind === 'email')!;
    assert.match(email.where, /^raw bytes, page \d+ \(a page of notes, in no live row: a freed cell\)$/);
    assert.equal(email.file, join(copy, 'rampart.db'));
    const ip = report.findings.find((f) => f.kind === 'client-ip')!;
    assert.equal(ip.file, join(copy, 'rampart.db-wal'));
    assert.match(ip.where, /^WAL frame \d+ \(page \d+ of notes\), in no live row/);
  });
});

test('a pg_dump: plaintext rows are reported by table and column; envelopes, hashes and ids are not', () => {
  const dump = [
    'SET client_encoding = \'UTF8\';',
    'COPY rampart_ear_1a2b.consumers (id, name, tenant, metadata) FROM stdin;',
    `svc-a\t${envelope()}\t\\N\t${envelope()}`,
    'svc-b\tCarol Chen\tacme\t{"note": "tab\\there"}',
    '\\.',
    'COPY "rampart_ear_1a2b_audit".rampart_ip_blocks (ip_hash, ip, until_ms, incident_id, reason) FROM stdin;',
    `${randomBytes(32).toString('hex')}\t192.0.2.44\t1\t\\N\tmanual`,
    '\\.',
  ].join('\n');
  const report = scanPgDump(dump, SUITE_SECRETS);
  assert.equal(report.pgTables, 2);
  assert.deepEqual(report.findings.map((f) => `${f.where}: ${f.kind}`).sort(), [
    'consumers.metadata (line 4): plaintext-in-encrypted-column',
    'consumers.name (line 4): known-secret',
    'consumers.name (line 4): plaintext-in-encrypted-column',
    'rampart_ip_blocks.ip (line 7): client-ip',
    'rampart_ip_blocks.ip (line 7): plaintext-in-encrypted-column',
  ]);
  assert.deepEqual(scanPgDump(dump.split('\n').filter((l) => !l.startsWith('svc-b') && !l.includes('192.0.2.44')).join('\n'), SUITE_SECRETS).findings, []);
});
