/**
 * Issue 11 (leftover of finding 3): at start the gateway compares the audit head it published last (the head file)
 * with the store. A store truncated or emptied between two starts is reported — an error log line, `audit` in the
 * /readyz detail and the `rampart_audit_head_rejected` gauge — and the old head file is kept aside (never
 * overwritten) until an operator acknowledges it by moving it away. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { parseHead } from '../src/audit/head.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { auditSigningKey, openAuditDb } from '../src/audit/service.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { Gateway } from '../src/server/gateway.ts';
import { startGateway } from './helpers/gateway.ts';
import { STORE_ENCRYPTION, TEST_KEK } from './helpers/apikeys.ts';
import { itemsConfig, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const ENV = { ...process.env, RAMPART_TEST_HEAD_PG_URL: PG_URL, T_KEK: TEST_KEK };

interface Started {
  readonly gateway: Gateway;
  readonly logs: () => Record<string, unknown>[];
  readonly adminUrl: string;
}

/** Starts a gateway on an existing config file (the second and later starts over the same data), logs captured. */
async function startOn(configFile: string): Promise<Started> {
  const chunks: string[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk.toString('utf8')), cb()) });
  const gateway = await Gateway.start({ configFile, logger: createLogger({ level: 'info', destination }), watch: false, env: ENV });
  return {
    gateway,
    adminUrl: `http://127.0.0.1:${gateway.addresses.admin}`,
    logs: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

async function readiness(adminUrl: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${adminUrl}/readyz`);
  assert.equal(res.status, 200, 'reported only: the gateway stays ready');
  return (await res.json()) as Record<string, unknown>;
}

async function gauge(gw: Gateway, name: string): Promise<{ labels: Record<string, unknown>; value: number }[]> {
  const metric = gw.monitor.metrics.registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  return (await metric.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`audit head checked against the store at start (${kind})`, () => {
    const schema = `rampart_headstart_${randomBytes(6).toString('hex')}`;
    let upstream: TestUpstream;
    let configFile: string;
    let dataDir: string;
    const running: Gateway[] = [];

    before(async () => {
      upstream = await startUpstream();
      const store = kind === 'postgres' ? { kind: 'postgres', url: '${env:RAMPART_TEST_HEAD_PG_URL}', schema } : { kind: 'sqlite' };
      // Incidents live in the audit database: a shared one needs configured KEKs (store.encryption).
      const encryption = kind === 'postgres' ? { store: { encryption: STORE_ENCRYPTION } } : {};
      const first = await startGateway(itemsConfig(upstream.url, { audit: { store, durability: 'sync' }, logging: { level: 'info', access_log: false }, ...encryption }), { files: SPEC_FILES, env: ENV });
      configFile = first.configFile;
      dataDir = join(first.dir, 'data');
      // Denies are audited (durably, before the answer): six records.
      for (let i = 0; i < 6; i++) assert.equal((await send(first.url, `/nowhere/${i}`)).status, 404);
      await first.close();
    });
    after(async () => {
      for (const g of running) await g.stop(500).catch(() => undefined);
      await upstream?.close();
      if (kind === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    });

    /** Runs SQL on the audit store as an attacker with database access would. */
    async function sql(statements: string[]): Promise<void> {
      const { config, file } = loadConfigFile(configFile, ENV);
      const db = await openAuditDb(config.audit, file);
      try {
        for (const s of statements) await db.run(s);
      } finally {
        await db.close();
      }
    }

    const headFile = () => join(dataDir, 'audit-head.json');
    const rejectedFiles = () => readdirSync(dataDir).filter((n) => n.endsWith('.rejected.json'));

    test('an untouched store: no error, readiness ok, the head gauges show the published head', async () => {
      const published = parseHead(readFileSync(headFile(), 'utf8'));
      assert.ok(published.seq >= 6, `head covers the six denies (seq ${published.seq})`);
      const gw = await startOn(configFile);
      running.push(gw.gateway);
      assert.equal(gw.logs().filter((l) => l['level'] === 'error').length, 0, 'no error logged');
      assert.equal((await readiness(gw.adminUrl))['audit'], 'ok');
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_seq'), [{ labels: {}, value: published.seq }]);
      const [age] = await gauge(gw.gateway, 'rampart_audit_head_age_seconds');
      assert.ok(age!.value >= 0 && age!.value < 600, `head age ${age!.value}`);
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_rejected'), []);
      await gw.gateway.stop(500);
      assert.deepEqual(rejectedFiles(), []);
    });

    test('records deleted between two starts: error log, readiness detail, gauge; the old head is kept aside', async () => {
      const old = readFileSync(headFile(), 'utf8');
      const oldSeq = parseHead(old).seq;
      await sql(['DELETE FROM audit_records WHERE seq > 2', 'DELETE FROM audit_checkpoints WHERE seq > 2']);
      const gw = await startOn(configFile);
      running.push(gw.gateway);

      const errors = gw.logs().filter((l) => l['level'] === 'error');
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.match(String(errors[0]!['msg']), /audit store is behind its published head: the audit store ends at record 2 but the published head names record \d+/);
      assert.equal(errors[0]!['reason'], 'truncated');
      assert.equal(errors[0]!['headSeq'], oldSeq);
      assert.equal(errors[0]!['storeSeq'], 2);

      assert.equal((await readiness(gw.adminUrl))['audit'], 'behind_published_head');
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_rejected'), [{ labels: { reason: 'truncated' }, value: 1 }]);

      // Not overwritten: the old head is intact beside the new one, which covers what the store holds now.
      const [rejected] = rejectedFiles();
      assert.match(rejected!, /^audit-head\.\d{4}-\d\d-\d\dT[\d-]+Z\.truncated\.rejected\.json$/);
      assert.equal(readFileSync(join(dataDir, rejected!), 'utf8'), old);
      assert.equal(parseHead(readFileSync(headFile(), 'utf8')).seq, 2);
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_seq'), [{ labels: {}, value: 2 }]);

      // The kept head is what `audit verify --head` needs to name the loss.
      const { config, file } = loadConfigFile(configFile, ENV);
      const key = auditSigningKey(config.audit, file);
      const result = await verifyChain(gw.gateway.monitor.audit!.store, key, { heads: [parseHead(old)] });
      assert.equal(result.ok, false);
      assert.match(result.firstBad!.reason, /records up to the published head \d+ are missing/);
      await gw.gateway.stop(500);
    });

    test('the rejection stays reported across restarts until acknowledged by moving the file away', async () => {
      const gw = await startOn(configFile);
      running.push(gw.gateway);
      const errors = gw.logs().filter((l) => l['level'] === 'error');
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]!['msg']), /rejected at an earlier start are not acknowledged/);
      assert.equal((await readiness(gw.adminUrl))['audit'], 'behind_published_head');

      const [rejected] = rejectedFiles();
      renameSync(join(dataDir, rejected!), join(dataDir, '..', rejected!));
      assert.equal((await readiness(gw.adminUrl))['audit'], 'ok', 'acknowledged without a restart');
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_rejected'), []);
      await gw.gateway.stop(500);
    });

    test('both tables emptied between two starts: reported as emptied; no head is written over the evidence', async () => {
      await sql(['DELETE FROM audit_records', 'DELETE FROM audit_checkpoints']);
      const gw = await startOn(configFile);
      running.push(gw.gateway);
      const errors = gw.logs().filter((l) => l['level'] === 'error');
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.match(String(errors[0]!['msg']), /the audit store is empty but the published head names record 2/);
      assert.equal((await readiness(gw.adminUrl))['audit'], 'behind_published_head');
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_rejected'), [{ labels: { reason: 'emptied' }, value: 1 }]);
      assert.equal(existsSync(headFile()), false, 'nothing to sign yet: the next record writes the new head');
      assert.deepEqual(await gauge(gw.gateway, 'rampart_audit_head_seq'), [{ labels: {}, value: 0 }]);
      await gw.gateway.stop(500);
    });
  });
}
