/**
 * Encryption at rest through a real gateway, on SQLite and on PostgreSQL: personal data written through the admin
 * API and the self-service key endpoint, and an IP the monitor blocked, are absent from a copy of every database
 * (the SQLite files with their WAL, a pg_dump of the schemas) and from the alert dead-letter file; a tampered value fails closed (a generic 500 problem, the cause logged under the request
 * id); a start without the KEK in use fails naming the config path; `rampart keys rotate-kek` (two runs at once, as
 * separate processes) re-wraps the data keys while the gateway keeps serving, after which the old KEK can be retired.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { createLogger } from '../src/log.ts';
import { Gateway } from '../src/server/gateway.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV, adminCall } from './helpers/apikeys.ts';
import { send } from './helpers/gateway-fixtures.ts';

const PG_URL = process.env['RAMPART_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { bearer: [] }, { apiKey: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
`;

const ENV = { ...TEST_ENV, T_DB: PG_URL, T_PEPPER: 'e'.repeat(48), T_ALERT: 'alert-secret', T_KEK_A: randomBytes(32).toString('base64'), T_KEK_B: randomBytes(32).toString('hex') };
const KEK_A = { id: 'kek-a', key: '${env:T_KEK_A}' };
const KEK_B = { id: 'kek-b', key: '${env:T_KEK_B}' };
const marker = (label: string) => `${label} ${randomBytes(5).toString('hex')}`;

function rampart(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000, env: ENV }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`encryption at rest through the gateway (${kind})`, () => {
    const schema = `rampart_ear_${randomBytes(6).toString('hex')}`;
    const auditSchema = `${schema}_audit`;
    const attacker = `203.0.113.${1 + Math.floor(Math.random() * 250)}`;
    let issuer: TestIssuer;
    let upstream: TestUpstream;
    let gw: TestGateway;
    const secrets = { name: marker('Alice Liddell'), email: marker('alice.liddell@example.org'), phone: marker('+44 7700 900'), keyOwner: marker('owner alice'), laptop: marker('laptop of alice'), patched: marker('patched note') };
    let apiKey = '';

    const config = (keks: readonly object[], active: string): Record<string, unknown> => ({
      trusted_proxies: ['127.0.0.1'],
      monitor: {
        interval_ms: 50,
        detectors: { auth_failures: { threshold: 8, window_seconds: 60 }, rate_spike: { min_requests: 5000 } },
        respond: { block_ip_minutes: 15 },
        // Nothing listens on port 1: the alert goes to the dead-letter file at once.
        alerts: [{ url: 'http://127.0.0.1:1/alerts', secret: '${env:T_ALERT}', max_attempts: 1, timeout_ms: 1000 }],
      },
      ...(kind === 'postgres' ? { audit: { store: { kind: 'postgres', url: '${env:T_DB}', schema: auditSchema } } } : {}),
      admin: ADMIN_CONFIG,
      upstreams: { main: { url: upstream.url } },
      store: { ...(kind === 'postgres' ? { kind: 'postgres', url: '${env:T_DB}', schema } : {}), encryption: { keks, active } },
      ...(kind === 'postgres' ? { auth_keys: { pepper: '${env:T_PEPPER}' } } : {}),
      apis: [
        {
          name: 'items',
          spec: './items.yaml',
          upstream: 'main',
          response: { mode: 'off' },
          auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] }, api_keys: true, failure_backoff: { enabled: false } },
          self_service_keys: { enabled: true, max_keys: 3, max_ttl_days: 30, default_ttl_days: 7 },
        },
      ],
    });
    /** Rewrites the gateway's config file (the next start, and the CLI, read it). */
    const rewrite = (keks: readonly object[], active: string) => {
      const full = { listen: { admin: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1', insecure: true } }, ...config(keks, active), logging: { level: 'debug' } };
      writeFileSync(gw.configFile, stringify(full));
    };
    const restart = async () => {
      await gw.close();
      return Gateway.start({ configFile: gw.configFile, logger: createLogger({ level: 'silent' }), watch: false, env: ENV });
    };

    /**
     * What a copy of the databases yields: the store and the audit database (incidents, blocks; files + WAL, or a
     * pg_dump of both schemas), and the alert dead-letter file.
     */
    async function copyOfDatabases(): Promise<string> {
      const files = ['rampart.db', 'rampart.db-wal', 'audit.db', 'audit.db-wal', 'alerts-dead-letter.jsonl'].map((f) => join(gw.dir, 'data', f)).filter((f) => existsSync(f));
      const parts = files.map((f) => readFileSync(f).toString('latin1'));
      if (kind === 'postgres') {
        const { stdout } = await promisify(execFile)('pg_dump', ['--no-owner', '--schema', schema, '--schema', auditSchema, PG_URL], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
        assert.ok(stdout.includes(`${schema}.consumers`), 'pg_dump dumped the store schema');
        assert.ok(stdout.includes(`${auditSchema}.rampart_ip_blocks`), 'and the audit schema');
        parts.push(stdout);
      } else {
        assert.ok(files.some((f) => f.endsWith('rampart.db')), 'the store file exists');
      }
      return parts.join('\n');
    }

    /** Runs SQL on the store as someone with write access to the database. */
    async function storeSql(sql: string, params: unknown[] = []): Promise<void> {
      if (kind === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
        await client.connect();
        try {
          await client.query(sql, params);
        } finally {
          await client.end();
        }
        return;
      }
      const db = new DatabaseSync(join(gw.dir, 'data', 'rampart.db'), { timeout: 5000 });
      try {
        db.prepare(sql.replace(/\$(\d+)/g, '?$1')).run(...(params as string[]));
      } finally {
        db.close();
      }
    }

    before(async () => {
      issuer = await startTestIssuer('items-api');
      upstream = await startUpstream();
      gw = await startGateway(config([KEK_A], 'kek-a'), { files: { 'items.yaml': SPEC }, env: ENV });
    });
    after(async () => {
      await gw?.close();
      await upstream?.close();
      await issuer?.close();
      if (kind === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.query(`DROP SCHEMA IF EXISTS "${auditSchema}" CASCADE`);
        await client.end();
      }
    });

    test('personal data written through the admin API and self-service keys is in no copy of the databases', async () => {
      const created = await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-pii', name: secrets.name, metadata: { email: secrets.email } });
      assert.equal(created.status, 201);
      assert.equal((await adminCall(gw.adminUrl, 'PATCH', '/consumers/svc-pii', ADMIN_TOKEN, { metadata: { email: secrets.email, phone: secrets.phone } })).status, 200);
      const key = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-pii', scopes: ['items:read'], metadata: { owner: secrets.keyOwner } });
      assert.equal(key.status, 201);
      apiKey = String(key.json['key']);
      assert.equal((await adminCall(gw.adminUrl, 'PATCH', `/keys/${String(key.json['id'])}`, ADMIN_TOKEN, { metadata: { owner: secrets.keyOwner, note: secrets.patched } })).status, 200);
      const bearer = await issuer.sign({ sub: 'alice', scope: 'items:read', roles: ['user'], tenant: 'acme' });
      const selfService = await send(gw.url, '/me/api-keys', { method: 'POST', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: secrets.laptop, scopes: ['items:read'] }) });
      assert.equal(selfService.status, 201, selfService.body);
      const own = send(gw.url, '/me/api-keys', { headers: { authorization: `Bearer ${bearer}` } });
      assert.ok((await own).body.includes(secrets.laptop), 'the owner reads the key name back');
      // Read back through every path: the request path (key → consumer) and the admin API.
      assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': apiKey } })).status, 200);
      const read = await adminCall(gw.adminUrl, 'GET', '/consumers/svc-pii', ADMIN_TOKEN);
      assert.deepEqual([read.json['name'], read.json['metadata']], [secrets.name, { email: secrets.email, phone: secrets.phone }]);
      assert.ok(JSON.stringify((await adminCall(gw.adminUrl, 'GET', '/events', ADMIN_TOKEN)).json).includes('svc-pii'));

      const copy = await copyOfDatabases();
      assert.ok(copy.includes('svc-pii'), 'the copy is a real copy: ids are in clear');
      for (const [label, value] of Object.entries(secrets)) assert.ok(!copy.includes(value), `${label} is in a copy of the databases`);
    });

    test('a blocked IP (a credential-stuffing burst blocked by the monitor) is in no copy of the databases nor in the dead-letter file', async () => {
      for (let i = 0; i < 12; i++) await send(gw.url, '/items', { headers: { 'x-forwarded-for': attacker, 'x-api-key': `rk_wrong_${i}` } });
      await gw.gateway.monitor.drain();
      await gw.gateway.monitor.drainAlerts();
      const blocks = await adminCall(gw.adminUrl, 'GET', '/blocks', ADMIN_TOKEN);
      assert.ok(JSON.stringify(blocks.json).includes(attacker), `the monitor blocked ${attacker}: ${JSON.stringify(blocks.json)}`);
      assert.equal((await send(gw.url, '/items', { headers: { 'x-forwarded-for': attacker, 'x-api-key': apiKey } })).status, 403, 'the block is enforced');
      const incidentId = String((blocks.json['items'] as { incidentId: string }[])[0]!.incidentId);
      const deadLetter = readFileSync(join(gw.dir, 'data', 'alerts-dead-letter.jsonl'), 'utf8');
      assert.ok(deadLetter.includes(incidentId), 'the undelivered alert is dead-lettered, by incident id');

      const copy = await copyOfDatabases();
      assert.ok(copy.includes(incidentId), 'the copy is a real copy: incident ids are in clear');
      assert.ok(!copy.includes(attacker), `${attacker} is in a copy of the databases or the dead-letter file`);
    });

    test('a tampered value fails closed: generic problems (503 on the request path, 500 on the admin API), the cause logged under the request id', async () => {
      assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-victim', name: 'Victim' })).status, 201);
      const key = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-victim', scopes: ['items:read'] });
      // Someone with write access to the database moves Alice's name into the victim's row.
      await storeSql("UPDATE consumers SET name = (SELECT name FROM consumers WHERE id = 'svc-pii') WHERE id = 'svc-victim'");
      const seen = upstream.seen.length;
      const res = await send(gw.url, '/items', { headers: { 'x-api-key': String(key.json['key']) } });
      // The key's store lookup failed: the same generic answer as a store outage (not the client's doing, so the
      // monitor does not count it as probing), never a pass and never the cause.
      assert.equal(res.status, 503);
      const problem = res.json() as Record<string, unknown>;
      assert.equal(problem['type'], 'https://rampart.dev/problems/service_unavailable');
      assert.ok(!/decrypt|consumers|rk1|svc-victim|Alice/i.test(res.body), `no detail to the client: ${res.body}`);
      assert.equal(upstream.seen.length, seen, 'the upstream was not reached');
      assert.match(String(problem['requestId']), /^[0-9a-f-]{36}$/);
      const logged = gw.logs.find((l) => l['requestId'] === problem['requestId'] && JSON.stringify(l['err']).includes('DecryptionError'));
      assert.ok(logged, `the cause is logged under the request id ${String(problem['requestId'])}`);
      assert.ok(!JSON.stringify(logged).includes(secrets.name), 'the log has no plaintext');

      const admin = await adminCall(gw.adminUrl, 'GET', '/consumers/svc-victim', ADMIN_TOKEN);
      assert.equal(admin.status, 500);
      assert.equal(admin.json['type'], 'https://rampart.dev/problems/internal');
      assert.ok(!/decrypt|rk1|Alice/i.test(JSON.stringify(admin.json)));
      assert.ok(gw.logs.some((l) => l['msg'] === 'admin request failed' && JSON.stringify(l).includes('DecryptionError')), 'the admin failure is logged');
      assert.equal((await adminCall(gw.adminUrl, 'DELETE', '/consumers/svc-victim', ADMIN_TOKEN)).status, 200, 'the bad row can be removed');
    });

    test('rotate-kek (two runs at once) re-wraps online; a start without the KEK in use fails naming it; then the old KEK is retired', async () => {
      rewrite([KEK_A, KEK_B], 'kek-b');
      const runs = await Promise.all([rampart(['keys', 'rotate-kek', '-c', gw.configFile]), rampart(['keys', 'rotate-kek', '-c', gw.configFile])]);
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const reports = runs.map((r) => JSON.parse(r.stdout) as { active: string; rewrapped: number; byKek: Record<string, number> });
      assert.equal(reports[0]!.rewrapped + reports[1]!.rewrapped, 7, 'four store tables, the incidents, the blocks and their lookup key, each re-wrapped once');
      for (const report of reports) assert.deepEqual([report.active, report.byKek], ['kek-b', { 'kek-b': 7 }]);
      // The gateway started under kek-a alone keeps serving: reads, writes, new keys.
      assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': apiKey } })).status, 200);
      assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-during', name: 'Written during rotation' })).status, 201);
      assert.equal((await adminCall(gw.adminUrl, 'GET', '/consumers/svc-pii', ADMIN_TOKEN)).json['name'], secrets.name);
      assert.ok(JSON.stringify((await adminCall(gw.adminUrl, 'GET', '/events', ADMIN_TOKEN)).json).includes('kek.rotate'), 'the rotation is an admin event');

      // kek-b alone: every data key is under it now, so the old one is retired.
      rewrite([KEK_B], 'kek-b');
      const restarted = await restart();
      try {
        const admin = `http://127.0.0.1:${restarted.addresses.admin}`;
        assert.equal((await adminCall(admin, 'GET', '/consumers/svc-pii', ADMIN_TOKEN)).json['name'], secrets.name);
        assert.equal((await adminCall(admin, 'GET', '/consumers/svc-during', ADMIN_TOKEN)).json['name'], 'Written during rotation');
        assert.equal((await send(`http://127.0.0.1:${restarted.addresses.http}`, '/items', { headers: { 'x-api-key': apiKey } })).status, 200);
        assert.ok(JSON.stringify((await adminCall(admin, 'GET', '/blocks', ADMIN_TOKEN)).json).includes(attacker), 'the block is read back (decrypted) after the restart');
        assert.equal((await adminCall(admin, 'DELETE', `/blocks/${attacker}`, ADMIN_TOKEN)).status, 200, 'and lifted by IP');
      } finally {
        await restarted.stop(2000);
      }
      // kek-a alone: the KEK in use (kek-b) is missing. Start-up and the CLI refuse, naming the config path.
      rewrite([KEK_A], 'kek-a');
      await assert.rejects(Gateway.start({ configFile: gw.configFile, logger: createLogger({ level: 'silent' }), watch: false, env: ENV }), /store\.encryption\.keks: data key dk_[0-9a-f]+ \([a-z_.]+\) is wrapped under KEK "kek-b", which is not configured/);
      const cli = await rampart(['keys', 'list', '-c', gw.configFile]);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /store\.encryption\.keks: .*KEK "kek-b", which is not configured/);
      assert.ok(!cli.stdout.includes(secrets.name), 'nothing was read');
      rewrite([KEK_B], 'kek-b');
      gw = { ...gw, close: async () => undefined };
    });
  });
}
