/**
 * Monitor units: detectors for BOLA enumeration and a leaked key (synthetic request samples, frozen clock),
 * containment through the responder interfaces (suspend key, revoke tokens, tighten limits) and its reversal,
 * the ip-filter policy, alert signatures with retries and the dead-letter log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadConfigText } from '../config/load.ts';
import { createLogger } from '../log.ts';
import type { Identity, RequestContext, RequestOutcome } from '../pipeline/types.ts';
import { GatewayError } from '../problem.ts';
import { createIpFilterPolicy } from '../policies/ip-filter/index.ts';
import { IpBlocks } from './blocks.ts';
import { Detectors, type RequestSample } from './detectors.ts';
import { Monitor } from './monitor.ts';
import { AlertSender, signPayload, verifySignature } from './webhooks.ts';

/** The outcome of an allowed GET answered 200, as the handler would record it. */
function outcome(ctx: { id: string; clientIp: string; params: Record<string, string>; path: string; route?: { api: { name: string }; operationId: string; template: string }; identity: Identity }): RequestOutcome {
  return {
    requestId: ctx.id,
    method: 'GET',
    api: ctx.route?.api.name,
    operationId: ctx.route?.operationId,
    route: ctx.route?.template,
    status: 200,
    decision: 'allow',
    stage: undefined,
    traceId: undefined,
    code: undefined,
    reason: undefined,
    compiled: ctx.route as unknown as RequestOutcome['compiled'],
    clientIp: ctx.clientIp,
    identity: ctx.identity,
    objectId: ctx.route?.template === '*' ? ctx.path : Object.values(ctx.params).join('/'),
    totalNs: 0n,
    upstreamNs: 0n,
    upstreamStatus: 200,
    httpVersion: '1.1',
    notes: {},
  };
}

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function configFor(monitor: object) {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-monitor-'));
  const file = join(dir, 'rampart.yaml');
  const text = stringify({
    listen: { http: { port: 0, host: '127.0.0.1', insecure: true } },
    upstreams: { up: { url: 'http://127.0.0.1:9' } },
    apis: [{ name: 'shop', passthrough: true, upstream: 'up' }],
    monitor,
  });
  writeFileSync(file, text);
  return { dir, file, config: loadConfigText(text, file).config };
}

const sample = (over: Partial<RequestSample>): RequestSample => ({ at: 1_000_000, requestId: 'r', ip: '198.51.100.1', method: 'GET', status: 200, decision: 'allow', objectId: '', ...over });

test('enumeration: many distinct object ids answered 403/404 on one route fire once per second', () => {
  const { config } = configFor({ detectors: { enumeration: { distinct_ids: 10 } } });
  const d = new Detectors(config.monitor.detectors);
  const fired = [];
  for (let i = 0; i < 15; i++) fired.push(...d.observe(sample({ requestId: `r${i}`, status: i % 2 ? 403 : 404, route: 'demo:getAccount', objectId: String(1000 + i), consumer: 'bob', subject: 'bob', at: 1_000_000 + i })));
  const enumeration = fired.filter((x) => x.kind === 'enumeration');
  assert.ok(enumeration.length >= 1);
  assert.equal(enumeration[0]!.count, 10);
  assert.deepEqual(enumeration[0]!.subject, { ip: '198.51.100.1' });
  assert.ok(enumeration.some((x) => x.subject.consumer === 'bob'));
  // the same id repeated is not enumeration
  const d2 = new Detectors(config.monitor.detectors);
  for (let i = 0; i < 30; i++) assert.deepEqual(d2.observe(sample({ status: 404, route: 'demo:getAccount', objectId: '7', at: 1_000_000 + i })), []);
});

test('key_many_ips: one API key from many IPs fires; a key from one IP does not', () => {
  const { config } = configFor({ detectors: { key_many_ips: { distinct_ips: 5 } } });
  const d = new Detectors(config.monitor.detectors);
  const out = [];
  for (let i = 0; i < 6; i++) out.push(...d.observe(sample({ ip: `198.51.100.${i + 1}`, keyId: 'key_123', consumer: 'acme', at: 1_000_000 + i })));
  const hit = out.find((x) => x.kind === 'key_many_ips');
  assert.ok(hit);
  assert.equal(hit.subject.keyId, 'key_123');
  const d2 = new Detectors(config.monitor.detectors);
  for (let i = 0; i < 50; i++) assert.deepEqual(d2.observe(sample({ keyId: 'key_9', at: 1_000_000 + i })).filter((x) => x.kind === 'key_many_ips'), []);
});

test('rate spike: a burst far above the EWMA baseline fires; steady traffic does not', () => {
  const { config } = configFor({ detectors: { rate_spike: { min_requests: 50, factor: 5, window_seconds: 1 } } });
  const d = new Detectors(config.monitor.detectors);
  let t = 0;
  const fired: string[] = [];
  for (let s = 0; s < 20; s++) for (let i = 0; i < 10; i++) fired.push(...d.observe(sample({ at: (t = s * 1000 + i * 90) })).map((x) => x.kind));
  assert.equal(fired.length, 0);
  for (let i = 0; i < 100; i++) fired.push(...d.observe(sample({ at: t + 1000 + i })).map((x) => x.kind));
  assert.ok(fired.includes('rate_spike'));
});

test('leaked key incident suspends the key, revokes tokens, tightens the limit; resolve reverts all', async () => {
  const { file, config } = configFor({
    interval_ms: 10_000,
    detectors: { key_many_ips: { distinct_ips: 3 } },
    respond: { revoke_tokens: true, tighten_rate_limit: { enabled: true, factor: 0.5, minutes: 5 } },
  });
  const monitor = await Monitor.start({ config, configFile: file, logger: quiet });
  const calls: string[] = [];
  monitor.responders.keys = { suspendKey: async (k) => void calls.push(`suspend ${k}`), reinstateKey: async (k) => void calls.push(`reinstate ${k}`) };
  monitor.responders.tokens = { revokeTokensBefore: async (s) => void calls.push(`revoke ${s}`), unrevoke: async (s) => void calls.push(`unrevoke ${s}`) };
  monitor.responders.rates = { tighten: async (c, f) => void calls.push(`tighten ${c} ${f}`), relax: async (c) => void calls.push(`relax ${c}`) };
  const sink = monitor.sinks.at(-1)!;
  for (let i = 0; i < 4; i++) {
    const ctx = { id: `req${i}`, clientIp: `198.51.100.${i + 1}`, method: 'GET', decision: 'allow', params: {}, path: '/x', route: { api: { name: 'shop' }, operationId: 'op', template: '/x' }, identity: { subject: 'svc', consumer: 'acme', keyId: 'key_42', method: 'api_key', roles: [], scopes: [], claims: {} } };
    sink.record(outcome(ctx));
  }
  await monitor.drain();
  const [incident] = monitor.openIncidents();
  assert.equal(incident?.kind, 'key_many_ips');
  assert.deepEqual(calls, ['suspend key_42', 'revoke svc', 'tighten acme 0.5']);
  assert.deepEqual(incident.actions.map((a) => [a.type, a.status]), [['suspend_key', 'applied'], ['revoke_tokens', 'applied'], ['tighten_rate_limit', 'applied']]);
  const resolved = await monitor.resolve(incident.id, 'tester');
  assert.equal(resolved?.status, 'resolved');
  assert.deepEqual(calls.slice(3), ['reinstate key_42', 'unrevoke svc', 'relax acme']);
  assert.equal((await monitor.incidents!.get(incident.id))?.status, 'resolved');
  const audit = await monitor.audit!.store.search({ text: incident.id });
  assert.deepEqual([...new Set(audit.map((r) => r.type))], ['incident.opened', 'incident.action', 'incident.resolved']);
  await monitor.stop();
});

test('after a restart, the containment of open incidents is applied again; resolve passes the actor to the revert', async () => {
  const { file, config } = configFor({
    interval_ms: 10_000,
    detectors: { key_many_ips: { distinct_ips: 2 } },
    respond: { revoke_tokens: true, tighten_rate_limit: { enabled: true, factor: 0.5, minutes: 5 } },
  });
  const calls: string[] = [];
  const wire = (m: Monitor) => {
    m.responders.keys = { suspendKey: async (k) => void calls.push(`suspend ${k}`), reinstateKey: async (k, actor) => void calls.push(`reinstate ${k} by ${actor}`) };
    m.responders.tokens = { revokeTokensBefore: async (s, before) => void calls.push(`revoke ${s} ${before}`), unrevoke: async (s, actor) => void calls.push(`unrevoke ${s} by ${actor}`) };
    m.responders.rates = { tighten: async (c, f) => void calls.push(`tighten ${c} ${f}`), relax: async (c, actor) => void calls.push(`relax ${c} by ${actor}`) };
  };
  const first = await Monitor.start({ config, configFile: file, logger: quiet });
  wire(first);
  const sink = first.sinks.at(-1)!;
  for (let i = 0; i < 2; i++) {
    const ctx = { id: `s${i}`, clientIp: `198.51.100.${i + 1}`, method: 'GET', decision: 'allow', params: {}, path: '/', identity: { subject: 'svc', consumer: 'acme', keyId: 'key_7', method: 'api_key', roles: [], scopes: [], claims: {} } };
    sink.record(outcome(ctx));
  }
  await first.drain();
  const incident = first.openIncidents()[0]!;
  const revokedAt = Date.parse(incident.actions.find((a) => a.type === 'revoke_tokens')!.at);
  await first.stop();
  calls.length = 0;

  const second = await Monitor.start({ config, configFile: file, logger: quiet });
  wire(second);
  await second.restoreContainment();
  assert.deepEqual(calls, ['suspend key_7', `revoke svc ${revokedAt}`, 'tighten acme 0.5']);
  calls.length = 0;
  await second.resolve(incident.id, 'ops');
  assert.deepEqual(calls, ['reinstate key_7 by ops', 'unrevoke svc by ops', 'relax acme by ops']);
  await second.stop();
});

test('a missing responder is recorded as unavailable, never as applied', async () => {
  const { file, config } = configFor({ interval_ms: 10_000, detectors: { key_many_ips: { distinct_ips: 2 } } });
  const monitor = await Monitor.start({ config, configFile: file, logger: quiet });
  const sink = monitor.sinks.at(-1)!;
  for (let i = 0; i < 2; i++) {
    const ctx = { id: `q${i}`, clientIp: `198.51.100.${i + 1}`, method: 'GET', decision: 'allow', params: {}, path: '/', identity: { subject: 's', keyId: 'k1', method: 'api_key', roles: [], scopes: [], claims: {} } };
    sink.record(outcome(ctx));
  }
  await monitor.drain();
  assert.deepEqual(monitor.openIncidents()[0]?.actions.map((a) => a.status), ['unavailable']);
  await monitor.stop();
});

test('ip-filter: deny list, allow list and dynamic blocks deny with ip_blocked; bad CIDRs name the path', () => {
  const blocks = new IpBlocks(() => 1000);
  const policy = createIpFilterPolicy({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.9.0.0/16'] }, blocks)!;
  const run = (ip: string) => {
    const ctx = { clientIp: ip, notes: {} as Record<string, unknown> } as unknown as RequestContext;
    try {
      policy.run(ctx);
      return 'allow';
    } catch (error) {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.code, 'ip_blocked');
      return String(ctx.notes.rule);
    }
  };
  assert.equal(run('10.1.2.3'), 'allow');
  assert.equal(run('2001:db8::1'), 'allow');
  assert.equal(run('10.9.1.1'), 'deny_list');
  assert.equal(run('192.0.2.1'), 'allow_list');
  blocks.set({ ip: '10.1.2.3', until: 2000, reason: 'test' });
  assert.equal(run('10.1.2.3'), 'dynamic_block');
  assert.throws(() => createIpFilterPolicy({ allow: [], deny: ['10.0.0.0/40'] }, undefined), /ip_filter\.deny\[0\]/);
});

test('webhook signatures: verify accepts the right secret in the window, refuses replays and tampering', () => {
  const body = '{"a":1}';
  const header = signPayload('s3cret', body, 1_700_000_000);
  assert.equal(verifySignature('s3cret', body, header, 1_700_000_100), true);
  assert.equal(verifySignature('s3cret', body, header, 1_700_000_000 + 301), false, 'outside the 300 s replay window');
  assert.equal(verifySignature('s3cret', '{"a":2}', header, 1_700_000_000), false);
  assert.equal(verifySignature('other', body, header, 1_700_000_000), false);
});

test('alerts retry with backoff, then go to the dead-letter log (no personal data); slack format is Slack-shaped', async () => {
  let attempts = 0;
  const bodies: string[] = [];
  const signed: boolean[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts++;
      bodies.push(Buffer.concat(chunks).toString());
      signed.push(verifySignature('k', bodies.at(-1)!, String(req.headers['rampart-signature'] ?? ''), Math.floor(Date.now() / 1000)));
      res.writeHead(req.url === '/ok' ? 200 : 500).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'rampart-alerts-'));
  const dead = join(dir, 'dead.jsonl');
  const target = { secret: 'k', min_severity: 'low', timeout_ms: 1000, backoff_ms: 5 } as const;
  const sender = new AlertSender(
    [
      { ...target, url: `${base}/fail`, format: 'rampart', max_attempts: 3 },
      { ...target, url: `${base}/ok`, format: 'slack', max_attempts: 3 },
    ],
    dead,
    quiet,
  );
  const ip = '198.51.100.23';
  const subject = { ip, consumer: 'alice@example.org', keyId: 'key_alice' };
  sender.send({ event: 'incident.opened', incident: { id: 'inc_1', kind: 'scraping', severity: 'medium', summary: 's', subject, count: 1, actions: [{ type: 'block_ip', target: ip }] } });
  await sender.drain();
  assert.equal(attempts, 4, '3 attempts on the failing target, 1 on the healthy one');
  assert.deepEqual(signed, [true, true, true, true], 'the receiver verifies every attempt (HMAC over timestamp + body)');
  const lines = readFileSync(dead, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  // Only non-personal fields: the incident is read by id from the admin API (encrypted at rest there).
  const { at, ...line } = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.match(String(at), /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(line, { host: new URL(base).host, error: 'HTTP 500', alert: { event: 'incident.opened', incident: { id: 'inc_1', kind: 'scraping', severity: 'medium' } } });
  for (const personal of [ip, 'alice', 'key_alice']) assert.ok(!lines[0]!.includes(personal), `${personal} is not in the dead-letter line`);
  assert.ok(bodies.some((b) => b.includes(ip)), 'the webhook itself carries the subject');
  const slack = bodies.map((b) => JSON.parse(b) as Record<string, unknown>).find((b) => 'blocks' in b);
  assert.match(String(slack?.['text']), /scraping/);
  await new Promise<void>((r) => server.close(() => r()));
});
