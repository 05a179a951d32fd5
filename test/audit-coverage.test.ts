/**
 * Audit coverage through a real gateway: each kind of action (auth success and failure, every deny, admin action,
 * key lifecycle, lockout, incident, sensitive operation, block lifted, counters reset) leaves its record type, with
 * IPs pseudonymised and personal fields redacted, and the whole trail verifies with signed checkpoints. Retention
 * run by the audit service deletes old records and what remains still verifies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parseHead, readHeadFile, verifyHead } from '../src/audit/head.ts';
import { openAuditService } from '../src/audit/service.ts';
import { verifyChain } from '../src/audit/verify.ts';
import { createLogger } from '../src/log.ts';
import { loadConfigText } from '../src/config/load.ts';
import { ADMIN_TOKEN, READ_TOKEN, TEST_ENV, adminCall, ADMIN_CONFIG } from './helpers/apikeys.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { send } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { apiKey: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
  /export:
    get:
      operationId: exportAll
      x-rampart-sensitive: true
      responses: { '200': { description: ok } }
  /login:
    post:
      operationId: login
      security: []
      x-rampart-login: { account_field: username }
      requestBody:
        required: true
        content: { application/json: { schema: { type: object } } }
      responses: { '200': { description: ok }, '401': { description: no } }
`;

const ATTACKER = '203.0.113.50';
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('every audited action leaves its record', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (req, res) => {
      const status = req.url === '/login' ? 401 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    };
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        upstreams: { main: { url: upstream.url } },
        apis: [
          {
            name: 'shop',
            spec: './shop.yaml',
            upstream: 'main',
            auth: { api_keys: true },
            response: { mode: 'off' },
            // A token bucket, not a fixed window: a window that turned over between these requests would let one more through.
            rate_limits: [{ name: 'per-key', key: 'api_key', algorithm: 'token_bucket', limit: '3/min', operations: ['listItems'] }],
            brute_force: { max_failures_ip_account: 2, delay_after: 5, delay_base_ms: 1, max_delay_ms: 2 },
          },
        ],
        admin: ADMIN_CONFIG,
        audit: { checkpoint_every: 5 },
        monitor: { interval_ms: 50, detectors: { auth_failures: { threshold: 5, window_seconds: 60 } }, respond: { block_ip_minutes: 15 } },
      },
      { files: { 'shop.yaml': SPEC }, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const store = () => gw.gateway.monitor.audit!.store;
  const ofType = async (type: string) => store().search({ type });
  const login = (account: string) =>
    send(gw.url, '/login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ATTACKER }, body: JSON.stringify({ username: account, password: 'guess' }) });

  test('records for auth, denies, admin actions, key lifecycle, lockouts, incidents and sensitive operations; the trail verifies', async () => {
    // Admin actions and key lifecycle.
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc', name: 'Jane Doe' })).status, 201);
    const created = await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc', scopes: [] });
    assert.equal(created.status, 201);
    const key = String(created.json['key']);
    const keyId = String(created.json['id']);

    // Auth success, auth failure, rate-limit deny, sensitive operation.
    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': key } })).status, 200);
    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': `${key.slice(0, -4)}AAAA` } })).status, 401);
    assert.equal((await send(gw.url, '/items')).status, 401);
    for (let i = 0; i < 3; i++) await send(gw.url, '/items', { headers: { 'x-api-key': key } });
    assert.equal((await send(gw.url, '/items', { headers: { 'x-api-key': key } })).status, 429);
    assert.equal((await send(gw.url, '/export', { headers: { 'x-api-key': key } })).status, 200);

    // Key rotation and revocation.
    const rotated = await adminCall(gw.adminUrl, 'POST', `/keys/${keyId}/rotate`, ADMIN_TOKEN, {});
    assert.equal(rotated.status, 201);
    assert.equal((await adminCall(gw.adminUrl, 'POST', `/keys/${String(rotated.json['id'])}/revoke`, ADMIN_TOKEN)).status, 200);

    // Password guessing: a lockout, then an incident with the IP blocked.
    for (const account of ['alice', 'alice', 'bob', 'carol', 'dave']) await login(account);
    const deadline = Date.now() + 5000;
    let incident: { id: string } | undefined;
    while (!incident && Date.now() < deadline) {
      const res = await fetch(`${gw.adminUrl}/admin/v1/incidents`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
      const list = ((await res.json()) as { items: { id: string; kind: string; actions: { type: string; status: string }[] }[] }).items;
      incident = list.find((i) => i.kind === 'auth_failures' && i.actions.some((a) => a.type === 'block_ip' && a.status === 'applied'));
      if (!incident) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(incident, 'an auth_failures incident blocked the attacker within 5 s');
    assert.equal((await login('erin')).status, 403, 'the blocked IP is denied (ip-filter)');

    // Lifting: the block, a lockout, then resolving the incident.
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    assert.equal((await fetch(`${gw.adminUrl}/admin/v1/blocks/${ATTACKER}`, { method: 'DELETE', headers: admin })).status, 200);
    const lifted = await fetch(`${gw.adminUrl}/admin/v1/ratelimit/lockouts?ip=${ATTACKER}&account=alice`, { method: 'DELETE', headers: admin });
    assert.deepEqual(await lifted.json(), { cleared: 1 });
    const resolved = await fetch(`${gw.adminUrl}/admin/v1/incidents/${incident.id}/resolve`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: '{"note":"test"}' });
    assert.equal(resolved.status, 200);
    await gw.gateway.monitor.audit!.log.flush();

    const denied = await ofType('request.denied');
    const deniedBy = (code: string) => denied.filter((r) => r.fields['code'] === code);
    assert.ok(deniedBy('invalid_token').length + deniedBy('unauthorized').length >= 2, 'auth failures (bad key, no key) are denies with their code');
    assert.ok(denied.every((r) => typeof r.fields['stage'] === 'string' && typeof r.fields['code'] === 'string'), 'every deny has stage and code');
    assert.equal(deniedBy('rate_limited').length, 2, 'the two requests past 3/min');
    assert.ok(deniedBy('account_locked').length + deniedBy('ip_blocked').length >= 1);
    assert.equal(deniedBy('ip_blocked')[0]?.fields['rule'], 'dynamic_block', 'the rule that denied is recorded');

    const success = await ofType('auth.success');
    assert.ok(success.some((r) => r.fields['keyId'] === keyId && r.fields['consumer'] === 'svc' && r.fields['authMethod'] === 'api_key'));
    const sensitive = await ofType('request.sensitive');
    assert.deepEqual(sensitive.map((r) => r.fields['operationId']), ['exportAll']);

    for (const type of ['admin.consumer.create', 'admin.key.create', 'admin.key.rotate', 'admin.key.revoke']) {
      assert.ok((await ofType(type)).some((r) => r.fields['actor'] === 'ops'), `${type} recorded with the admin token name`);
    }
    assert.ok((await ofType('key.created')).some((r) => r.fields['keyId'] === keyId));
    assert.equal((await ofType('key.rotated')).length, 1);
    assert.equal((await ofType('key.revoked')).length, 1);
    assert.ok((await ofType('rate_limited')).length >= 1);

    const lockouts = await ofType('lockout');
    assert.ok(lockouts.length >= 1, 'the lockout is recorded');
    assert.ok(!JSON.stringify(lockouts).includes('alice'), 'the account identifier is hashed');
    for (const type of ['incident.opened', 'incident.action', 'incident.resolved', 'ip.unblocked', 'ratelimit.reset']) {
      assert.ok((await ofType(type)).length >= 1, `${type} recorded`);
    }

    // GDPR: no IP and no personal field in clear anywhere in the trail.
    const all = await store().search({ limit: 10_000 });
    const text = JSON.stringify(all.map((r) => r.fields));
    assert.ok(!text.includes(ATTACKER) && !text.includes('127.0.0.1'), 'IPs are pseudonymised');
    assert.match(String(deniedBy('ip_blocked')[0]?.fields['ip']), /^ip_[0-9a-f]{32}$/);
    assert.ok(!text.includes('Jane Doe'), 'personal fields are redacted');
    assert.equal((await ofType('admin.consumer.create'))[0]?.fields['name'], '[redacted]');
    assert.ok(!text.includes('alice'), 'the account given to the lockout reset is not recorded in clear');

    const result = await verifyChain(store(), gw.gateway.monitor.audit!.key);
    assert.equal(result.ok, true, JSON.stringify(result.firstBad));
    assert.equal(result.records, all.length);
    assert.ok(result.checkpoints >= 2, 'signed checkpoints were written and verified');
  });

  test('GET /admin/v1/audit/head: the signed head (authenticated, read_only role); it anchors verify and matches the head file', async () => {
    const audit = gw.gateway.monitor.audit!;
    audit.log.append({ type: 'test.head', fields: { n: 1 } });
    await audit.log.flush();
    await audit.head.flush();
    assert.equal((await adminCall(gw.adminUrl, 'GET', '/audit/head', undefined)).status, 401);
    const { status, json } = await adminCall(gw.adminUrl, 'GET', '/audit/head', READ_TOKEN);
    assert.equal(status, 200);
    const head = parseHead(JSON.stringify(json));
    assert.ok(verifyHead(audit.key, head), 'signed by the audit key');
    const [newest] = await store().tail(1);
    assert.deepEqual({ seq: head.seq, hash: head.hash }, { seq: newest!.seq, hash: newest!.hash }, 'covers the newest committed record');
    assert.deepEqual(readHeadFile(join(gw.dir, 'data', 'audit-head.json')), head, 'the same head is in the head file');
    assert.equal((await verifyChain(store(), audit.key, { heads: [head] })).ok, true);
  });
});

describe('retention', () => {
  test('the audit service prunes records older than retention_days at start; the remaining chain verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-retention-'));
    const file = join(dir, 'rampart.yaml');
    const text = `listen: { http: { port: 0, host: 127.0.0.1, insecure: true } }
upstreams: { up: { url: 'http://127.0.0.1:9' } }
apis: [ { name: shop, passthrough: true, upstream: up } ]
audit: { retention_days: 30, checkpoint_every: 10, durability: async }
`;
    const config = loadConfigText(text, file).config.audit;
    const day = 86_400_000;
    let now = Date.parse('2026-01-01T00:00:00Z');
    const first = await openAuditService(config, file, quiet, () => now);
    for (let i = 0; i < 25; i++) {
      now += day / 10;
      first.log.append({ type: 'test.old', fields: { n: i } });
      await first.log.flush();
    }
    now += 60 * day;
    for (let i = 0; i < 3; i++) first.log.append({ type: 'test.new', fields: { n: i } });
    await first.close();

    // Restart 60 days later: everything before the last checkpoint older than 30 days goes.
    const second = await openAuditService(config, file, quiet, () => now);
    try {
      let left = await second.store.search({ limit: 1000 });
      for (let i = 0; i < 100 && left.length === 28; i++) {
        await new Promise((r) => setTimeout(r, 20));
        left = await second.store.search({ limit: 1000 });
      }
      assert.deepEqual(left.map((r) => r.seq), [21, 22, 23, 24, 25, 26, 27, 28, 29], 'pruned up to the checkpoint at seq 20');
      assert.deepEqual({ type: left.at(-1)!.type, through: left.at(-1)!.fields['through'] }, { type: 'audit.pruned', through: 20 }, 'retention records what it deleted');
      const result = await verifyChain(second.store, second.key, { heads: [readHeadFile(join(dir, 'data', 'audit-head.json'))!] });
      assert.equal(result.ok, true, JSON.stringify(result.firstBad));
      assert.equal(result.records, 9);
    } finally {
      await second.close();
    }
  });
});
