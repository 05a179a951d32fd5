/**
 * The `rampart` CLI as an operator runs it: child processes (`node src/cli/main.ts …`) against a real gateway on
 * loopback and its real stores. Consumers and keys are written to the gateway's SQLite store by the CLI and take
 * effect on the running gateway (revocation within 1 s by the Redis fan-out, the store re-check set to 30 s);
 * incidents are opened by a real burst of failed logins and handled over the authenticated admin API; the audit
 * trail the gateway wrote is verified, searched, exported, then tampered with and found broken; config errors exit
 * 2 naming the config file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { ADMIN_TOKEN, KEYS_SPEC, READ_TOKEN, TEST_ENV, keysConfig } from './helpers/apikeys.ts';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in a child process (bounded: 20 s). Asynchronous, so the in-process gateway keeps serving. */
function rampart(args: string[], env: NodeJS.ProcessEnv = TEST_ENV): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000, env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI and requires exit 0; returns stdout parsed as JSON. */
async function rampartJson<T>(args: string[], env?: NodeJS.ProcessEnv): Promise<T> {
  const r = await rampart(args, env);
  assert.equal(r.code, 0, `rampart ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const jsonl = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

interface KeyOut {
  readonly key?: string;
  readonly id: string;
  readonly consumer: string;
  readonly scopes: string[];
  readonly status: string;
  readonly replaced_by: string | null;
  readonly previous?: { id: string; status: string; replaced_by: string | null };
}

const prefix = `rampart_test_${randomBytes(6).toString('hex')}:`;
const FAILING_IP = '203.0.113.61';

describe('rampart CLI against a running gateway', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let cfg: string;
  let stopped = false;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(
      keysConfig(up.url, {
        trusted_proxies: ['127.0.0.1'],
        // revocations must reach the running gateway through the Redis fan-out, not the safety-net re-check
        auth_keys: { recheck_interval_ms: 30_000, cache_ttl_ms: 60_000 },
        counters: { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix },
        monitor: { interval_ms: 50, detectors: { auth_failures: { threshold: 8, window_seconds: 60 } }, respond: { block_ip_minutes: 15 } },
      }),
      { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV },
    );
    cfg = gw.configFile;
  });
  after(async () => {
    if (!stopped) await gw.close();
    await up.close();
  });

  const items = async (key: string, ip = '127.0.0.1'): Promise<number> => {
    const res = await fetch(`${gw.url}/items`, { headers: { 'x-api-key': key, 'x-forwarded-for': ip } });
    await res.arrayBuffer();
    return res.status;
  };

  let createdKey = '';

  test('consumers create/list and keys create/list: the secret is printed once, never listed, and authenticates', async () => {
    const consumer = await rampartJson<Record<string, unknown>>(['consumers', 'create', '--id', 'billing', '--name', 'Billing service', '--tenant', 'acme', '--roles', 'reader', '-c', cfg]);
    assert.equal(consumer['id'], 'billing');
    assert.deepEqual(consumer['roles'], ['reader']);
    const consumers = await rampartJson<Record<string, unknown>[]>(['consumers', 'list', '--json', '-c', cfg]);
    assert.deepEqual(consumers.map((c) => c['id']), ['billing']);

    const duplicate = await rampart(['consumers', 'create', '--id', 'billing', '--name', 'again', '-c', cfg]);
    assert.notEqual(duplicate.code, 0, 'a second consumer with the same id is refused');
    assert.match(duplicate.stderr, /billing|exists/);

    const created = await rampart(['keys', 'create', '--consumer', 'billing', '--scopes', 'items:read', '--expires-in', '90d', '-c', cfg]);
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as KeyOut;
    assert.match(key.key!, /^rk_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    assert.equal(key.key!.split('_')[2], key.id, 'the key id is the public part of the key');
    assert.equal(key.consumer, 'billing');
    assert.deepEqual(key.scopes, ['items:read']);
    assert.match(created.stderr, /shown once/);
    createdKey = key.key!;

    const listed = await rampart(['keys', 'list', '--consumer', 'billing', '-c', cfg]);
    assert.equal(listed.code, 0, listed.stderr);
    const keys = JSON.parse(listed.stdout) as KeyOut[];
    assert.deepEqual(keys.map((k) => [k.id, k.status]), [[key.id, 'active']]);
    const db = new DatabaseSync(join(gw.dir, 'data', 'rampart.db'), { readOnly: true });
    const { key_hash: hash } = db.prepare('SELECT key_hash FROM api_keys WHERE id = ?').get(key.id) as { key_hash: string };
    db.close();
    assert.ok(hash.length >= 32, 'the store holds a hash');
    assert.ok(!listed.stdout.includes(key.key!.split('_')[3]!), 'keys list never prints the secret');
    assert.ok(!listed.stdout.includes(hash), 'keys list never prints the hash');
    assert.doesNotMatch(listed.stdout, /hash|"key"/i);

    assert.equal(await items(createdKey), 200, 'the CLI-created key authenticates through the gateway');
    assert.equal(await items(createdKey.slice(0, -7) + 'AAAAAAA'), 401, 'a tampered key does not');
  });

  test('keys rotate gives a working successor (the old key works during the grace); keys revoke → 401 within 1 s', async () => {
    const oldId = createdKey.split('_')[2]!;
    const rotated = await rampart(['keys', 'rotate', oldId, '--grace', '1h', '-c', cfg]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const next = JSON.parse(rotated.stdout) as KeyOut;
    assert.notEqual(next.id, oldId);
    assert.equal(next.previous?.id, oldId);
    assert.equal(next.previous?.replaced_by, next.id);
    assert.equal(next.previous?.status, 'rotating');
    assert.deepEqual(next.scopes, ['items:read'], 'the successor keeps the scopes');
    assert.equal(await items(next.key!), 200, 'the successor authenticates');
    assert.equal(await items(createdKey), 200, 'the old key still works during the grace');

    const revoked = await rampartJson<KeyOut>(['keys', 'revoke', next.id, '-c', cfg]);
    assert.equal(revoked.status, 'revoked');
    const deadline = Date.now() + 1000;
    let status = 0;
    for (let i = 0; i < 50 && Date.now() < deadline; i++) {
      status = await items(next.key!);
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 401, 'the revoked key is refused within 1 s (cached for 60 s, re-check every 30 s: only the fan-out can do it)');

    const statuses = await rampartJson<KeyOut[]>(['keys', 'list', '--json', '-c', cfg]);
    assert.deepEqual(Object.fromEntries(statuses.map((k) => [k.id, k.status])), { [oldId]: 'rotating', [next.id]: 'revoked' });

    const missing = await rampart(['keys', 'revoke', 'AAAAAAAAAAAA', '-c', cfg]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /AAAAAAAAAAAA/);
    const usage = await rampart(['keys', 'create', '-c', cfg]);
    assert.notEqual(usage.code, 0);
    assert.match(usage.stderr, /--consumer/);
  });

  let incidentId = '';

  /**
   * 10 requests with unknown keys from `ip` (the detector fires at 8, so the last ones may already meet the block),
   * then polls `rampart incidents list` (bounded: 5 s) for its incident with the IP blocked.
   */
  async function burstUntilIncident(ip: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
    for (let i = 0; i < 10; i++) {
      const status = await items(`rk_live_${'A'.repeat(12)}_${randomBytes(19).toString('hex').slice(0, 38)}`, ip);
      if (i < 8) assert.equal(status, 401);
      else assert.ok(status === 401 || status === 403, `unexpected ${status}`);
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const { items: incidents } = await rampartJson<{ items: Record<string, unknown>[] }>(['incidents', 'list', '--status', 'open', '--admin', gw.adminUrl, '-c', cfg], env);
      const found = incidents.find((i) => i['kind'] === 'auth_failures' && (i['subject'] as Record<string, unknown>)['ip'] === ip);
      if (found && (found['actions'] as { type: string; status: string }[]).some((a) => a.type === 'block_ip' && a.status === 'applied')) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`rampart incidents list showed no contained auth_failures incident for ${ip} within 5 s`);
  }

  test('incidents list/show: a burst of failed logins opens an incident the CLI lists and shows with evidence', async () => {
    const noToken: NodeJS.ProcessEnv = { ...TEST_ENV };
    delete noToken['RAMPART_ADMIN_TOKEN'];
    // Without RAMPART_ADMIN_TOKEN the config's own read_only token (its reference resolved) serves for a list …
    const fromConfig = await rampart(['incidents', 'list', '--json', '--admin', gw.adminUrl, '-c', cfg], noToken);
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
    // … and when the config's reference cannot be resolved either, the CLI fails naming it.
    const bare: NodeJS.ProcessEnv = { ...noToken };
    delete bare['T_ADMIN'];
    delete bare['T_READ'];
    const refused = await rampart(['incidents', 'list', '--admin', gw.adminUrl, '-c', cfg], bare);
    assert.equal(refused.code, 2, 'without any token the CLI fails');
    assert.match(refused.stderr, /admin\.tokens/);
    assert.equal(refused.stdout, '');
    const wrong = await rampart(['incidents', 'list', '--admin', gw.adminUrl, '-c', cfg], { ...TEST_ENV, RAMPART_ADMIN_TOKEN: 'not-a-token-'.padEnd(40, 'x') });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);

    const reader = { ...TEST_ENV, RAMPART_ADMIN_TOKEN: READ_TOKEN };
    const empty = await rampartJson<{ items: unknown[]; next: string | null }>(['incidents', 'list', '--admin', gw.adminUrl, '-c', cfg], reader);
    assert.deepEqual(empty, { items: [], next: null });

    const found = await burstUntilIncident(FAILING_IP, reader);
    incidentId = String(found['id']);

    const shown = await rampartJson<Record<string, unknown>>(['incidents', 'show', incidentId, '--admin', gw.adminUrl, '-c', cfg], reader);
    assert.equal(shown['id'], incidentId);
    assert.equal(shown['status'], 'open');
    const evidence = shown['evidence'] as { requestIds: string[]; counts: Record<string, number> };
    assert.ok(evidence.requestIds.length >= 8, 'evidence names the failed requests');
    assert.ok(evidence.counts['auth_failures']! >= 8);
    assert.equal(await items(createdKey, FAILING_IP), 403, 'containment: the IP is blocked');

    const unknown = await rampart(['incidents', 'show', 'no-such-incident', '--admin', gw.adminUrl, '-c', cfg], reader);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404/);
  });

  test('incidents resolve/unblock: refused for a read_only token, done with an admin token, and the blocks are lifted', async () => {
    const readOnly = await rampart(['incidents', 'resolve', incidentId, '--admin', gw.adminUrl, '-c', cfg], { ...TEST_ENV, RAMPART_ADMIN_TOKEN: READ_TOKEN });
    assert.equal(readOnly.code, 1);
    assert.match(readOnly.stderr, /403/);
    const admin = { ...TEST_ENV, RAMPART_ADMIN_TOKEN: ADMIN_TOKEN };
    const resolved = await rampartJson<Record<string, unknown>>(['incidents', 'resolve', incidentId, '--note', 'test burst', '--admin', gw.adminUrl, '-c', cfg], admin);
    assert.equal(resolved['status'], 'resolved');
    const { items: incidents } = await rampartJson<{ items: Record<string, unknown>[] }>(['incidents', 'list', '--status', 'open', '--admin', gw.adminUrl, '-c', cfg], admin);
    assert.ok(!incidents.some((i) => i['id'] === incidentId), 'no longer open');
    assert.equal(await items(createdKey, FAILING_IP), 200, 'the block is lifted');

    const other = '203.0.113.62';
    await burstUntilIncident(other, admin);
    assert.equal(await items(createdKey, other), 403);
    const unblocked = await rampartJson<Record<string, unknown>>(['incidents', 'unblock', other, '--admin', gw.adminUrl, '-c', cfg], admin);
    assert.deepEqual(unblocked, { ip: other, lifted: true });
    assert.equal(await items(createdKey, other), 200, 'unblock lifts the block');
    const again = await rampart(['incidents', 'unblock', other, '--admin', gw.adminUrl, '-c', cfg], admin);
    assert.equal(again.code, 1, 'no block left to lift');
    assert.match(again.stderr, /404/);

    const down = await rampart(['incidents', 'list', '--admin', 'http://127.0.0.1:1', '-c', cfg], admin);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the admin listener at http:\/\/127\.0\.0\.1:1/);
  });

  test('consumers delete: the consumer\'s remaining keys are refused within 1 s', async () => {
    assert.equal(await items(createdKey), 200, 'the rotated key still works in its grace');
    const deleted = await rampart(['consumers', 'delete', 'billing', '-c', cfg]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /deleted billing/);
    const deadline = Date.now() + 1000;
    let status = 0;
    for (let i = 0; i < 50 && Date.now() < deadline; i++) {
      status = await items(createdKey);
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 401);
    assert.deepEqual(await rampartJson<unknown[]>(['consumers', 'list', '-c', cfg]), []);
  });

  test('audit verify/tail/search/export on the trail the gateway wrote; an edited record breaks verify, naming it', async () => {
    await gw.close(); // flushes the audit trail and releases the database
    stopped = true;
    assert.ok(existsSync(join(gw.dir, 'data', 'audit.db')), 'audit is on by default, in data/ next to the config');

    const verified = await rampart(['audit', 'verify', '-c', cfg]);
    assert.equal(verified.code, 0, verified.stderr);
    const result = JSON.parse(verified.stdout) as { ok: boolean; records: number };
    assert.equal(result.ok, true);

    const exported = await rampart(['audit', 'export', '-c', cfg]);
    assert.equal(exported.code, 0, exported.stderr);
    const records = jsonl(exported.stdout);
    assert.equal(records.length, result.records, 'export prints every record verify checked');
    assert.deepEqual(records.map((r) => r['seq']), records.map((_, i) => i + 1), 'oldest first, no gaps');
    const types = new Set(records.map((r) => String(r['type'])));
    for (const type of ['auth.success', 'request.denied', 'incident.opened', 'incident.resolved', 'admin.consumer.create', 'admin.key.create', 'admin.key.rotate', 'admin.key.revoke', 'admin.consumer.delete', 'ip.unblocked']) {
      assert.ok(types.has(type), `${type} is audited (types: ${[...types].join(', ')})`);
    }
    const cliChanges = records.filter((r) => String(r['type']).startsWith('admin.key.'));
    assert.ok(cliChanges.every((r) => String((r['fields'] as Record<string, unknown>)['actor']).startsWith('cli:')), 'CLI changes are audited with a cli: actor');
    assert.ok(!exported.stdout.includes(createdKey.split('_')[3]!), 'no secret in the audit trail');

    const tail = await rampart(['audit', 'tail', '-n', '3', '-c', cfg]);
    assert.equal(tail.code, 0, tail.stderr);
    assert.deepEqual(jsonl(tail.stdout).map((r) => r['seq']), records.slice(-3).map((r) => r['seq']), 'tail: the newest records, ascending');

    const byType = jsonl((await rampart(['audit', 'search', '--type', 'incident.resolved', '-c', cfg])).stdout);
    assert.deepEqual(byType.map((r) => r['seq']), records.filter((r) => r['type'] === 'incident.resolved').map((r) => r['seq']), 'search filters by type');
    assert.ok(byType.length >= 1);
    const byText = jsonl((await rampart(['audit', 'search', '--text', incidentId, '-c', cfg])).stdout);
    assert.deepEqual(byText.map((r) => r['seq']), records.filter((r) => JSON.stringify(r['fields']).includes(incidentId)).map((r) => r['seq']), 'search filters by text');
    assert.ok(byText.length >= 2, 'the incident was opened and resolved');
    const lastTime = String(records.at(-1)!['time']);
    const since = jsonl((await rampart(['audit', 'search', '--since', lastTime, '-c', cfg])).stdout);
    assert.ok(since.length >= 1 && since.every((r) => String(r['time']) >= lastTime), 'search filters by time');
    const exportSince = jsonl((await rampart(['audit', 'export', '--since', lastTime, '-c', cfg])).stdout);
    assert.deepEqual(exportSince.map((r) => r['seq']), since.map((r) => r['seq']));
    const none = await rampart(['audit', 'search', '--type', 'no.such.type', '-c', cfg]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    for (const bad of [['tail', '-n', 'lots'], ['search', '--limit', '-5'], ['search', '--since', 'yesterday']]) {
      const r = await rampart(['audit', ...bad, '-c', cfg]);
      assert.equal(r.code, 2, `${bad.join(' ')} is a usage error: ${r.stderr}`);
    }

    // The head published beside the data, kept off-host: deleting the newest record is found against it.
    const published = join(gw.dir, 'published-head.json');
    copyFileSync(join(gw.dir, 'data', 'audit-head.json'), published);
    const lastSeq = records.at(-1)!['seq'] as number;
    const db = new DatabaseSync(join(gw.dir, 'data', 'audit.db'));
    db.prepare('DELETE FROM audit_records WHERE seq = ?').run(lastSeq);
    rmSync(join(gw.dir, 'data', 'audit-head.json'));
    const unanchored = await rampart(['audit', 'verify', '-c', cfg]);
    assert.equal(unanchored.code, 0, 'without any head a deleted tail cannot be seen…');
    assert.match(unanchored.stderr, /no published head/, '…and verify says so');
    const truncated = await rampart(['audit', 'verify', '--head', published, '-c', cfg]);
    assert.equal(truncated.code, 1, truncated.stderr);
    assert.equal((JSON.parse(truncated.stdout) as { firstBad: { seq: number } }).firstBad.seq, lastSeq, 'verify --head names the deleted record');

    const victim = records.find((r) => r['type'] === 'auth.success')!;
    const row = db.prepare('SELECT fields FROM audit_records WHERE seq = ?').get(victim['seq'] as number) as { fields: string };
    const fields = JSON.parse(row.fields) as Record<string, unknown>;
    assert.equal(fields['consumer'] ?? fields['subject'], 'billing', `the victim record names the consumer: ${row.fields}`);
    db.prepare('UPDATE audit_records SET fields = ? WHERE seq = ?').run(JSON.stringify({ ...fields, consumer: 'someone-else', subject: 'someone-else' }), victim['seq'] as number);
    db.close();

    const broken = await rampart(['audit', 'verify', '-c', cfg]);
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stderr, new RegExp(`record ${String(victim['seq'])}\\b`), 'verify names the edited record');
    assert.equal((JSON.parse(broken.stdout) as { firstBad: { seq: number } }).firstBad.seq, victim['seq']);
  });
});

const MINIMAL = `listen:
  http: { port: 0, host: 127.0.0.1, insecure: true }
upstreams:
  up: { url: "http://127.0.0.1:9" }
apis:
  - { name: pass, passthrough: true, upstream: up }
`;

describe('rampart CLI errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-'));

  test('a bad config stops keys, consumers, audit and incidents with exit 2 naming the config file', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `${MINIMAL}store: { kind: sqlite, pathh: ./x.db }\n`);
    for (const args of [['keys', 'list'], ['consumers', 'list'], ['audit', 'verify'], ['incidents', 'list']]) {
      const r = await rampart([...args, '-c', file], { ...TEST_ENV, RAMPART_ADMIN_TOKEN: ADMIN_TOKEN });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(file), `${args.join(' ')} names ${file}: ${r.stderr}`);
      assert.match(r.stderr, /store\.pathh/);
    }
  });

  test('audit verify without an audit database says so (exit 2) and creates nothing', async () => {
    const file = join(dir, 'empty.yaml');
    writeFileSync(file, MINIMAL);
    const r = await rampart(['audit', 'verify', '-c', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /audit\.db/);
    assert.ok(!existsSync(join(dir, 'data', 'audit.db')), 'no empty database was created');
  });
});

describe('rampart CLI conventions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-cli-conv-'));

  test('--help on every command and subcommand prints that command\'s help to stdout, exits 0 and does nothing', async () => {
    // A config that would fail if anything ran: the help must come first.
    const missing = join(dir, 'does-not-exist.yaml');
    const cases: [string[], RegExp][] = [
      [['--help'], /Usage: rampart <command>/],
      [['start', '--help'], /Usage: rampart start/],
      [['start', '-c', missing, '-h'], /Usage: rampart start/],
      [['check', '--help'], /Usage: rampart check/],
      [['audit', 'verify', '--help'], /Usage: rampart audit/],
      [['incidents', 'resolve', 'inc-1', '--help'], /Usage: rampart incidents/],
      [['keys', 'revoke', 'key_1', '--help'], /Usage: rampart keys/],
      [['consumers', 'delete', 'c1', '--help'], /Usage: rampart consumers/],
    ];
    for (const [args, usage] of cases) {
      const r = await rampart(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, usage, args.join(' '));
      assert.equal(r.stderr, '', `${args.join(' ')} wrote to stderr`);
    }
    assert.ok(!existsSync(join(dir, 'data')), 'nothing was created');
  });

  test('--version prints the package version', async () => {
    const r = await rampart(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^rampart \d+\.\d+\.\d+/);
  });

  test('no command is a usage error (exit 2, usage on stderr)', async () => {
    const r = await rampart([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Usage: rampart <command>/);
  });

  test('a port in use stops start with exit 2 naming the config path, no stack trace', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const file = join(dir, 'taken.yaml');
      writeFileSync(file, MINIMAL.replace('port: 0, host: 127.0.0.1', `port: ${port}, host: 127.0.0.1`).replace('listen:\n', 'listen:\n  admin: { port: 0, host: 127.0.0.1 }\n'));
      const r = await rampart(['start', '-c', file]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /listen\.http\.port: 127\.0\.0\.1:\d+ is in use by another process \(EADDRINUSE\)\. Fix: stop that process or choose another port/);
      assert.ok(r.stderr.includes(file));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      taken.close();
    }
  });

  test('a missing spec names its config path; a literal secret says how to give one', async () => {
    const spec = join(dir, 'missing-spec.yaml');
    writeFileSync(spec, MINIMAL.replace('{ name: pass, passthrough: true, upstream: up }', '{ name: a, spec: ./nope.yaml, upstream: up }'));
    const r = await rampart(['check', '-c', spec]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /apis\[0\]\.spec: \S*nope\.yaml: no such file\. Fix: /);
    assert.doesNotMatch(r.stderr, /ENOENT/);
    const literal = join(dir, 'literal-secret.yaml');
    writeFileSync(literal, `${MINIMAL}admin:\n  tokens: [ { name: x, token: "abcdefghijklmnopqrstuvwxyz0123456789", role: admin } ]\n`);
    const s = await rampart(['check', '-c', literal]);
    assert.equal(s.code, 2);
    assert.match(s.stderr, /admin\.tokens\[0\]\.token \(line \d+\): a literal secret is not allowed here\. Fix: use \$\{env:NAME\} or \$\{file:/);
  });

  test('apply declares consumers as code: plan, apply, idempotent, dry run, prune; export round-trips', async () => {
    const work = mkdtempSync(join(tmpdir(), 'rampart-apply-'));
    const cfg = join(work, 'rampart.yaml');
    writeFileSync(cfg, `${MINIMAL}store: { kind: sqlite, path: ./store.db }\n`);
    const file = join(work, 'consumers.yaml');
    const declare = (consumers: string) => writeFileSync(file, `consumers:\n${consumers}`);
    declare('  - { id: svc-a, name: Service A, tenant: acme, roles: [reader] }\n  - { id: svc-b, name: Service B }\n');

    const dry = await rampart(['apply', '-f', file, '--dry-run', '-c', cfg]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^\+ create consumer svc-a\n\+ create consumer svc-b\n2 change\(s\) planned \(dry run: nothing applied\)\n$/);
    const applied = await rampart(['apply', '-f', file, '-c', cfg]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /2 change\(s\) applied/);
    assert.equal((await rampart(['apply', '-f', file, '-c', cfg])).stdout, 'no changes\n', 'idempotent');

    declare('  - { id: svc-a, name: Service A, tenant: acme, roles: [reader, writer] }\n');
    const update = await rampart(['apply', '-f', file, '-c', cfg]);
    assert.match(update.stdout, /~ update consumer svc-a: roles: \["reader"\] → \["reader","writer"\]/);
    assert.doesNotMatch(update.stdout, /svc-b/, 'without --prune an undeclared consumer stays');
    const pruned = await rampart(['apply', '-f', file, '--prune', '-c', cfg]);
    assert.match(pruned.stdout, /- delete consumer svc-b/);

    const exported = await rampart(['export', '-c', cfg]);
    assert.equal(exported.code, 0, exported.stderr);
    writeFileSync(file, exported.stdout);
    assert.equal((await rampart(['apply', '-f', file, '--prune', '-c', cfg])).stdout, 'no changes\n', 'export is what apply reads');
    const listed = await rampartJson<{ id: string; roles: string[] }[]>(['consumers', 'list', '-c', cfg]);
    assert.deepEqual(listed.map((c) => [c.id, c.roles]), [['svc-a', ['reader', 'writer']]]);
    for (const type of ['admin.consumer.create', 'admin.consumer.update', 'admin.consumer.delete']) {
      const records = jsonl((await rampart(['audit', 'search', '--type', type, '-c', cfg])).stdout);
      assert.ok(records.some((r) => JSON.stringify(r).includes('cli:')), `${type} is audited with the CLI actor`);
    }

    declare('  - { id: svc-a, name: A }\n  - { id: svc-a, name: again }\n');
    const twice = await rampart(['apply', '-f', file, '-c', cfg]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /svc-a is declared twice/);
    declare('  - { id: svc-c, name: C, secret: hunter2 }\n');
    const unknown = await rampart(['apply', '-f', file, '-c', cfg]);
    assert.equal(unknown.code, 2, 'an unknown field is refused, not ignored');
  });
});
