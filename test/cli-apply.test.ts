/**
 * `rampart apply` with keys and plans, run as the CLI (a child process) against the store a real gateway serves
 * from: a key declared by ref is created once and its secret delivered only to --secrets-out (and then works
 * through the gateway), key metadata is changed in place, undeclared keys are revoked with --prune, a plan must
 * exist, and a key exported with its hash is imported into a second store sharing the pepper, where the same
 * secret verifies. What an operator might get wrong is refused with a message: a key moved to another consumer,
 * an unknown id, an existing secrets file, an unknown plan.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { KEYS_SPEC, TEST_ENV, keysConfig } from './helpers/apikeys.ts';
import { eventually } from './helpers/gateway-fixtures.ts';
import { KEY_PATTERN } from '../src/policies/authn-apikey/format.ts';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const ENV = { ...TEST_ENV, APPLY_PEPPER: 'apply-test-pepper-'.padEnd(48, 'p') };

function rampart(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000, env: ENV }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const config = (upstreamUrl: string, store: string) =>
  keysConfig(upstreamUrl, {
    store: { kind: 'sqlite', path: store },
    auth_keys: { pepper: '${env:APPLY_PEPPER}' },
    plans: { gold: [{ name: 'gold', key: 'api_key', algorithm: 'fixed_window', limit: '1000/min' }] },
  });

interface Listed {
  id: string;
  consumer: string;
  scopes: string[];
  plan: string | null;
  metadata: Record<string, unknown>;
  status: string;
}

describe('rampart apply: keys and plans', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let work: string;
  let file: string;
  const declare = (value: unknown) => writeFileSync(file, stringify(value));
  const keysOf = async (cfg = gw.configFile) => JSON.parse((await rampart(['keys', 'list', '-c', cfg])).stdout) as Listed[];
  const call = (key: string, base = gw.url) => fetch(`${base}/items`, { headers: { 'x-api-key': key } });

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(config(upstream.url, './store.db'), { files: { 'keys.yaml': KEYS_SPEC }, env: ENV });
    work = mkdtempSync(join(tmpdir(), 'rampart-apply-keys-'));
    file = join(work, 'consumers.yaml');
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const consumers = [{ id: 'svc-a', name: 'Service A', plan: 'gold' }, { id: 'svc-b', name: 'Service B' }];
  const deployKey = { ref: 'deploy', consumer: 'svc-a', scopes: ['orders:read'], plan: 'gold', metadata: { owner: 'team-a' } };
  let secret = '';
  let keyId = '';

  test('a key declared by ref is created once; its secret goes only to --secrets-out, and it works through the gateway', async () => {
    declare({ consumers, keys: [deployKey] });
    const dry = await rampart(['apply', '-f', file, '--dry-run', '-c', gw.configFile]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /\+ create consumer svc-a\n\+ create consumer svc-b\n\+ create key deploy for svc-a/);

    const refused = await rampart(['apply', '-f', file, '-c', gw.configFile]);
    assert.equal(refused.code, 2, 'creating keys needs somewhere to deliver their secrets');
    assert.match(refused.stderr, /--secrets-out/);
    assert.deepEqual(await keysOf(), [], 'nothing was applied');
    assert.equal(JSON.parse((await rampart(['consumers', 'list', '-c', gw.configFile])).stdout).length, 0);

    const secrets = join(work, 'secrets.jsonl');
    const applied = await rampart(['apply', '-f', file, '--secrets-out', secrets, '-c', gw.configFile]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /3 change\(s\) applied; 1 new key secret\(s\) in /);
    assert.equal(statSync(secrets).mode & 0o777, 0o600);
    const [line] = readFileSync(secrets, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ref: string; id: string; consumer: string; key: string });
    assert.ok(line && KEY_PATTERN.test(line.key) && line.ref === 'deploy' && line.consumer === 'svc-a');
    secret = line.key;
    keyId = line.id;
    assert.ok(!applied.stdout.includes(secret) && !applied.stderr.includes(secret), 'the secret never reaches the terminal');
    const [listed] = await keysOf();
    assert.deepEqual({ id: listed!.id, scopes: listed!.scopes, plan: listed!.plan, metadata: listed!.metadata }, { id: keyId, scopes: ['orders:read'], plan: 'gold', metadata: { owner: 'team-a', rampart_ref: 'deploy' } });
    assert.equal((await call(secret)).status, 200, 'the delivered key authenticates through the gateway');

    assert.equal((await rampart(['apply', '-f', file, '-c', gw.configFile])).stdout, 'no changes\n', 'idempotent: the ref finds the key again');
    const again = await rampart(['apply', '-f', file, '--secrets-out', secrets, '--prune', '-c', gw.configFile]);
    assert.equal(again.stdout, 'no changes\n');
    assert.equal(readFileSync(secrets, 'utf8').trim().split('\n').length, 1, 'the secrets file is not touched when nothing is created');
  });

  test('key metadata changes in place (same key, same secret); the change is audited', async () => {
    declare({ consumers, keys: [{ ...deployKey, scopes: ['orders:read', 'orders:write'], metadata: { owner: 'team-b' } }] });
    const changed = await rampart(['apply', '-f', file, '-c', gw.configFile]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, new RegExp(`~ update key ${keyId}: scopes: \\["orders:read"\\] → \\["orders:read","orders:write"\\], metadata: .*team-a.* → .*team-b`));
    const [listed] = await keysOf();
    assert.deepEqual(listed!.scopes, ['orders:read', 'orders:write']);
    assert.equal((await call(secret)).status, 200, 'the same secret still works');
    const audited = await rampart(['audit', 'search', '--type', 'admin.key.update', '-c', gw.configFile]);
    assert.match(audited.stdout, /cli:/);
  });

  test('mistakes are refused with a message and change nothing', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['an unknown plan', { consumers: [{ id: 'svc-a', name: 'Service A', plan: 'platinum' }] }, /consumer svc-a: plan platinum is not defined under plans in the config \(defined: gold\)/],
      ['a key moved to another consumer', { consumers, keys: [{ id: keyId, consumer: 'svc-b' }] }, /belongs to consumer svc-a, the file says svc-b/],
      ['an id that does not exist', { consumers, keys: [{ id: 'AAAAAAAAAAAA', consumer: 'svc-a' }] }, /key AAAAAAAAAAAA does not exist: declare a new key with ref:/],
      ['a key for an undeclared consumer', { consumers, keys: [deployKey, { ref: 'x', consumer: 'svc-zz' }] }, /consumer svc-zz does not exist/],
      ['a ref with a key_hash', { consumers, keys: [{ ref: 'x', consumer: 'svc-a', key_hash: 'ab'.repeat(32) }] }, /must have property id when property key_hash is present/],
      ['a key declared twice', { consumers, keys: [deployKey, deployKey] }, /key ref deploy is declared twice/],
      ['a secret in the file', { consumers, keys: [{ ...deployKey, key: 'rk_live_x' }] }, /must NOT have additional properties/],
      ['one key named by its ref and by its id', { consumers, keys: [deployKey, { id: keyId, consumer: 'svc-a' }] }, /is declared twice \(key ref deploy and key /],
      ['a day that does not exist', { consumers, keys: [{ ...deployKey, expires_at: '2027-02-31T00:00:00Z' }] }, /must match format "date-time"/],
    ];
    for (const [name, value, message] of cases) {
      declare(value);
      const r = await rampart(['apply', '-f', file, '-c', gw.configFile]);
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, name);
    }
    declare({ consumers, keys: [deployKey, { ref: 'second', consumer: 'svc-b' }] });
    const existing = join(work, 'secrets.jsonl');
    const before = readFileSync(existing, 'utf8');
    const r = await rampart(['apply', '-f', file, '--secrets-out', existing, '-c', gw.configFile]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists already \(it is never overwritten\)/);
    assert.equal(readFileSync(existing, 'utf8'), before);
    assert.equal((await keysOf()).length, 1, 'no key was created');
  });

  test('export --with-key-hashes imports into a second store with the same pepper, where the same secret works', async () => {
    const exported = await rampart(['export', '--with-key-hashes', '-c', gw.configFile]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(!exported.stdout.includes(secret), 'an export holds no secret');
    assert.match(exported.stdout, /key_hash: [0-9a-f]{64}/);
    const plain = await rampart(['export', '-c', gw.configFile]);
    assert.doesNotMatch(plain.stdout, /key_hash/, 'hashes only when asked for');

    const second = await startGateway(config(upstream.url, './second.db'), { files: { 'keys.yaml': KEYS_SPEC }, env: ENV });
    try {
      assert.equal((await call(secret, second.url)).status, 401, 'unknown to the second store');
      writeFileSync(file, exported.stdout);
      const imported = await rampart(['apply', '-f', file, '-c', second.configFile]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stdout, new RegExp(`\\+ import key ${keyId} for svc-a \\(by hash\\)`));
      // The second gateway remembered the id as unknown (negative_cache_ttl_ms, 1 s); the CLI has no bus to it here.
      assert.ok(await eventually(async () => (await call(secret, second.url)).status === 200), 'the same secret verifies against the imported hash');
      assert.equal((await rampart(['apply', '-f', file, '--prune', '-c', second.configFile])).stdout, 'no changes\n', 'the export is what apply reads');
    } finally {
      await second.close();
    }
  });

  test('--prune revokes live keys the file does not name; a file without keys: leaves keys alone', async () => {
    declare({ consumers });
    assert.equal((await rampart(['apply', '-f', file, '--prune', '-c', gw.configFile])).stdout, 'no changes\n', 'no keys: section, keys are not managed');
    declare({ consumers, keys: [] });
    const pruned = await rampart(['apply', '-f', file, '--prune', '-c', gw.configFile]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(`- revoke key ${keyId} of svc-a`));
    assert.equal((await keysOf())[0]!.status, 'revoked');
    assert.ok(await eventually(async () => (await call(secret)).status === 401), 'the revoked key stops working');
  });
});
