/**
 * The start-up comparison of the head file with the store (checkPublishedHead, through openAuditService): a store
 * ahead of the head is fine; one with another record at the head's seq, a hole there, or a head file that is not
 * this key's is rejected and the file moved aside; a head older than what retention kept is accepted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../log.ts';
import type { AuditConfig } from './schema.ts';
import { auditSigningKey, openAuditDb, openAuditService } from './service.ts';
import { parseHead, signHead } from './head.ts';
import { signingKeyFromPem } from './signing.ts';
import { AuditStore } from './store.ts';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function setup(): { config: AuditConfig; configFile: string; dir: string; headFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-headcheck-'));
  const config = {
    enabled: true,
    store: { kind: 'sqlite' },
    data_dir: './data',
    checkpoint_every: 1000,
    head_interval_ms: 1000,
    retention_days: 90,
    pseudonymise_ips: false,
    redact_fields: [],
    durability: 'async',
    record_allowed: 'none',
    sensitive_operations: [],
    flush_interval_ms: 2,
  } as unknown as AuditConfig;
  return { config, configFile: join(dir, 'rampart.yaml'), dir, headFile: join(dir, 'data', 'audit-head.json') };
}

/** Writes `n` records through the service (which publishes the head file at close). */
async function write(s: ReturnType<typeof setup>, n: number): Promise<void> {
  const service = await openAuditService(s.config, s.configFile, quiet);
  for (let i = 0; i < n; i++) service.log.append({ type: 'request.denied', fields: { n: i } });
  await service.close();
}

/** Appends `n` records with the store alone (as a writer that publishes no head would). */
async function appendRaw(s: ReturnType<typeof setup>, n: number): Promise<void> {
  const db = await openAuditDb(s.config, s.configFile);
  const store = new AuditStore(db, auditSigningKey(s.config, s.configFile));
  await store.init();
  await store.append(Array.from({ length: n }, (_, i) => ({ time: new Date().toISOString(), type: 'request.denied', fields: { raw: i } })));
  await db.close();
}

async function run(s: ReturnType<typeof setup>, statements: string[]): Promise<void> {
  const db = await openAuditDb(s.config, s.configFile);
  for (const sql of statements) await db.run(sql);
  await db.close();
}

const rejected = (s: ReturnType<typeof setup>) => readdirSync(join(s.dir, 'data')).filter((n) => n.endsWith('.rejected.json'));

test('a store ahead of its head is accepted, and the head is where the publisher starts from', async () => {
  const s = setup();
  await write(s, 3);
  const head = parseHead(readFileSync(s.headFile, 'utf8'));
  await appendRaw(s, 2);
  const service = await openAuditService(s.config, s.configFile, quiet);
  assert.equal(service.headCheck.rejection, undefined);
  assert.equal(service.headStatus(), 'ok');
  assert.deepEqual(service.head.current(), head, 'seeded: the admin API and the gauges have a head before the first commit');
  await service.close();
  assert.deepEqual(rejected(s), []);
});

test('another record at the head seq (rolled back, then extended past it) is rejected as diverged', async () => {
  const s = setup();
  await write(s, 4);
  const old = readFileSync(s.headFile, 'utf8');
  await run(s, ['DELETE FROM audit_records WHERE seq > 1']);
  await appendRaw(s, 6);
  const service = await openAuditService(s.config, s.configFile, quiet);
  assert.equal(service.headCheck.rejection, 'diverged');
  assert.match(service.headCheck.message!, /record 4 differs from the published head/);
  assert.equal(service.headStatus(), 'behind_published_head');
  assert.equal(parseHead(readFileSync(s.headFile, 'utf8')).seq, 7, 'a new head for what the store holds');
  await service.close();
  const [file] = rejected(s);
  assert.match(file!, /\.diverged\.rejected\.json$/);
  assert.equal(readFileSync(join(s.dir, 'data', file!), 'utf8'), old);
});

test('a hole at the head seq is rejected; a head older than the retained chain is accepted', async () => {
  const s = setup();
  await write(s, 3);
  await appendRaw(s, 3);
  await run(s, ['DELETE FROM audit_records WHERE seq = 3']);
  const holed = await openAuditService(s.config, s.configFile, quiet);
  assert.equal(holed.headCheck.rejection, 'diverged');
  assert.match(holed.headCheck.message!, /record 3 named by the published head is missing/);
  await holed.close();

  const t = setup();
  await write(t, 3);
  await appendRaw(t, 3);
  // What retention leaves: a prefix gone (verify checks it is explained by a checkpoint and an audit.pruned record).
  await run(t, ['DELETE FROM audit_records WHERE seq <= 4']);
  const pruned = await openAuditService(t.config, t.configFile, quiet);
  assert.equal(pruned.headCheck.rejection, undefined);
  assert.equal(pruned.headStatus(), 'ok');
  await pruned.close();
});

test('a head file that does not parse, or is signed by another key, is rejected as unverifiable', async () => {
  const s = setup();
  await write(s, 2);
  writeFileSync(s.headFile, '{"v":2,"seq":');
  const garbled = await openAuditService(s.config, s.configFile, quiet);
  assert.equal(garbled.headCheck.rejection, 'unverifiable');
  assert.equal(garbled.headStatus(), 'unverifiable_head');
  assert.equal(garbled.headCheck.published, undefined);
  await garbled.close();

  const other = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(s.headFile, JSON.stringify(signHead(other, 2, 'a'.repeat(64), new Date().toISOString(), 1)));
  const forged = await openAuditService(s.config, s.configFile, quiet);
  assert.equal(forged.headCheck.rejection, 'unverifiable');
  assert.match(forged.headCheck.message!, /not signed by this audit key/);
  assert.equal(forged.rejectedHeads().length, 2);
  await forged.close();
  assert.equal(rejected(s).filter((n) => n.includes('.unverifiable.')).length, 2);
});
