/**
 * The config loader: schema errors name the YAML path (and line) and how to fix it; references; unsafe
 * combinations refused at load.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../src/config/errors.ts';
import { loadConfigText } from '../src/config/load.ts';
import { startGateway } from './helpers/gateway.ts';
import { ITEMS_SPEC, itemsConfig, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-config-'));
const FILE = join(dir, 'rampart.yaml');
writeFileSync(join(dir, 'tls.crt'), 'cert');
writeFileSync(join(dir, 'tls.key'), 'key');

const BASE = `listen:
  https: { port: 0, host: 127.0.0.1, cert: '\${file:tls.crt}', key: '\${file:tls.key}' }
upstreams:
  main: { url: 'http://127.0.0.1:3000' }
apis:
  - name: items
    spec: ./items.yaml
    upstream: main
`;

function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfigText(text, FILE, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('config loader', () => {
  test('a minimal config loads with defaults filled in and is frozen', () => {
    const { config } = loadConfigText(BASE, FILE, {});
    assert.equal(config.listen.https?.min_version, 'TLSv1.2');
    assert.equal(config.listen.https?.cert, join(dir, 'tls.crt'));
    assert.equal(config.limits.max_body_bytes, 1048576);
    assert.equal(config.limits.headers_timeout_ms, 10000);
    assert.equal(config.apis[0]!.spec, join(dir, 'items.yaml'));
    assert.equal(config.security_headers.referrer_policy, 'no-referrer');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.limits) && Object.isFrozen(config.apis[0]));
  });

  test('an unknown key names its path, line and the allowed keys', () => {
    const error = issuesOf(BASE.replace("url: 'http://127.0.0.1:3000'", "url: 'http://127.0.0.1:3000', timeout: 5"));
    const issue = error.issues.find((i) => i.path === 'upstreams.main.timeout');
    assert.ok(issue, error.message);
    assert.equal(issue.message, 'unknown setting');
    assert.equal(issue.line, 4);
    assert.match(issue.hint ?? '', /connect_timeout_ms, headers_timeout_ms, body_timeout_ms/);
    assert.match(error.message, /upstreams\.main\.timeout \(line 4\): unknown setting\. Fix: remove it or use one of: url,/);
  });

  test('a top-level typo is named too', () => {
    const error = issuesOf(`${BASE}limit:\n  max_body_bytes: 10\n`);
    assert.ok(error.issues.some((i) => i.path === 'limit' && /limits/.test(i.hint ?? '')), error.message);
  });

  test('a literal where a secret reference is required is an error', () => {
    const error = issuesOf(BASE.replace("key: '${file:tls.key}'", 'key: "-----BEGIN PRIVATE KEY-----abc"'));
    const issue = error.issues.find((i) => i.path === 'listen.https.key');
    assert.ok(issue, error.message);
    assert.equal(issue.message, 'a literal secret is not allowed here');
    assert.match(issue.hint ?? '', /\$\{env:NAME\}/);
    assert.ok(!error.message.includes('BEGIN PRIVATE KEY'), 'the literal is not echoed');
  });

  test('a missing environment variable names the config path, not a value', () => {
    const error = issuesOf(BASE.replace('spec: ./items.yaml', 'spec: ${env:RAMPART_TEST_UNSET_SPEC}'), {});
    const issue = error.issues.find((i) => i.path === 'apis[0].spec');
    assert.ok(issue, error.message);
    assert.match(issue.message, /RAMPART_TEST_UNSET_SPEC is not set/);
    assert.equal(issue.line, 7);
  });

  test('a set environment variable and a readable file are resolved', () => {
    const { config } = loadConfigText(BASE.replace('spec: ./items.yaml', 'spec: ${env:RAMPART_TEST_SPEC}'), FILE, { RAMPART_TEST_SPEC: '/srv/spec.yaml' });
    assert.equal(config.apis[0]!.spec, '/srv/spec.yaml');
  });

  test('a missing referenced file names the config path', () => {
    const error = issuesOf(BASE.replace('spec: ./items.yaml', 'spec: ${file:does-not-exist.txt}'));
    assert.ok(error.issues.some((i) => i.path === 'apis[0].spec' && /cannot read file .*does-not-exist\.txt \(ENOENT\)/.test(i.message)), error.message);
  });

  test('TLS key given as an env reference is refused (TLS material is read from files)', () => {
    const error = issuesOf(BASE.replace("key: '${file:tls.key}'", "key: '${env:TLS_KEY}'"), { TLS_KEY: 'x' });
    assert.ok(error.issues.some((i) => i.path === 'listen.https.key' && /\$\{file:/.test(i.message)), error.message);
  });

  test('insecure: true on a non-loopback host is refused', () => {
    const text = BASE.replace(/listen:\n.*\n/, 'listen:\n  http: { port: 8080, host: 0.0.0.0, insecure: true }\n');
    const error = issuesOf(text);
    const issue = error.issues.find((i) => i.path === 'listen.http.insecure');
    assert.ok(issue, error.message);
    assert.match(issue.hint ?? '', /127\.0\.0\.1/);
    assert.doesNotThrow(() => loadConfigText(text.replace('0.0.0.0', '127.0.0.1'), FILE, {}));
  });

  test('a plain listener that redirects needs an HTTPS listener', () => {
    const error = issuesOf(BASE.replace(/listen:\n.*\n/, 'listen:\n  http: { port: 8080, host: 127.0.0.1 }\n'));
    assert.ok(error.issues.some((i) => i.path === 'listen.http'), error.message);
  });

  test('CORS `*` with credentials is refused at load', () => {
    const error = issuesOf(`${BASE}    cors: { allow_origins: ['*'], allow_credentials: true }\n`);
    const issue = error.issues.find((i) => i.path === 'apis[0].cors.allow_origins');
    assert.ok(issue, error.message);
    assert.match(issue.message, /cannot be combined with allow_credentials/);
    assert.doesNotThrow(() => loadConfigText(`${BASE}    cors: { allow_origins: ['*'] }\n`, FILE, {}));
  });

  test('an unknown upstream and a bad value type are each reported', () => {
    const error = issuesOf(BASE.replace('upstream: main', 'upstream: nope'));
    assert.ok(error.issues.some((i) => i.path === 'apis[0].upstream' && /main/.test(i.hint ?? '')), error.message);
    const typed = issuesOf(`${BASE}limits: { max_body_bytes: lots }\n`);
    assert.ok(typed.issues.some((i) => i.path === 'limits.max_body_bytes' && i.message === 'must be integer'), typed.message);
  });

  test('invalid YAML names the line', () => {
    const error = issuesOf('listen:\n  https: [unclosed\n');
    assert.ok(error.issues.some((i) => i.path === '(yaml)' && typeof i.line === 'number'), error.message);
  });

  test('duplicate keys are refused', () => {
    const error = issuesOf(`${BASE}limits: {}\nlimits: {}\n`);
    assert.ok(error.issues.some((i) => i.path === '(yaml)'), error.message);
  });
});

describe('operationIds named in the config must exist in the spec (fail closed at start-up)', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream?.close());

  /** Starts a real gateway with `extra` settings and returns the ConfigError that stops it. */
  async function startFails(extra: Parameters<typeof itemsConfig>[1]): Promise<ConfigError> {
    try {
      const gw = await startGateway(itemsConfig(upstream.url, extra), { files: SPEC_FILES });
      await gw.close();
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error;
    }
    assert.fail('the gateway started with a config naming an unknown operation');
  }
  const limit = (operations: string[]) => ({ name: 'per-ip', key: 'ip', limit: '1/min', operations });

  test('a rate limit listing an unknown operationId names the exact entry', async () => {
    const error = await startFails({ api: { rate_limits: [limit(['getItem', 'getItems'])] } });
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['apis[0].rate_limits[0].operations[1]'],
    );
    assert.match(error.message, /apis\[0\]\.rate_limits\[0\]\.operations\[1\]: no operation "getItems" in .*items\.yaml\. Fix: use an operationId from the spec/);
  });

  test('unknown operationIds in operations, rules and owner_rules are each reported', async () => {
    const error = await startFails({
      api: {
        operations: { getitem: { max_body_bytes: 1024 } },
        rules: { deleteItems: 'true' },
        owner_rules: { readItem: 'response.body.owner == identity.subject' },
      },
    });
    assert.deepEqual(error.issues.map((i) => i.path).sort(), ['apis[0].operations.getitem', 'apis[0].owner_rules.readItem', 'apis[0].rules.deleteItems']);
  });

  test('a policy reports the config path of its setting; a problem in a spec extension is filed under the API', async () => {
    const lookup = await startFails({ api: { operations: { getItem: { owner_lookup: { from: 'params.id', operation: 'nope', rule: 'true' } } } } });
    assert.deepEqual(lookup.issues.map((i) => i.path), ['apis[0].operations.getItem.owner_lookup.operation']);
    assert.match(lookup.message, /- apis\[0\]\.operations\.getItem\.owner_lookup\.operation: no operation "nope"/);
    const spec = ITEMS_SPEC.replace('      operationId: listItems\n', '      operationId: listItems\n      security: []\n      x-rampart-auth: { acr: [urn:mfa] }\n');
    try {
      const gw = await startGateway(itemsConfig(upstream.url), { files: { 'items.yaml': spec } });
      await gw.close();
      assert.fail('started with a step-up on an anonymous operation');
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.deepEqual(error.issues.map((i) => i.path), ['apis[0]']);
      assert.match(error.issues[0]?.message ?? '', /^x-rampart-auth on operation listItems: the operation allows anonymous calls/);
    }
  });

  test('an operation-level limit that excludes its own operation is refused', async () => {
    const error = await startFails({ api: { operations: { getItem: { rate_limits: [limit(['listItems'])] } } } });
    const issue = error.issues.find((i) => i.path === 'apis[0].operations.getItem.rate_limits[0].operations');
    assert.ok(issue, error.message);
    assert.match(issue.message, /never applies/);
  });

  test('a plan limit must name an operation of some API', async () => {
    const error = await startFails({ plans: { gold: [limit(['nope'])] } });
    assert.deepEqual(error.issues.map((i) => i.path), ['plans.gold[0].operations[0]']);
  });

  test('a passthrough API (no spec) cannot name operations', async () => {
    const error = await startFails({ api: { spec: undefined, passthrough: true, rate_limits: [limit(['getItem'])], rules: { getItem: 'true' } } });
    assert.deepEqual(error.issues.map((i) => i.path).sort(), ['apis[0].rate_limits[0].operations[0]', 'apis[0].rules.getItem']);
  });

  test('an operation listed for another setting keeps the API body limit (no operation-level default narrows it)', async () => {
    const limits = { max_body_bytes: 4 * 1048576 };
    const api = { max_body_bytes: 3 * 1048576, operations: { createItem: { rate_limits: [{ name: 'burst', key: 'ip', limit: '100/min' }] } } };
    const gw = await startGateway(itemsConfig(upstream.url, { limits, api }), { files: SPEC_FILES });
    try {
      const post = (bytes: number) =>
        fetch(gw.url + '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(bytes) }), signal: AbortSignal.timeout(10_000) }).then(async (r) => (await r.arrayBuffer(), r.status));
      assert.equal(await post(2 * 1048576), 200, 'a 2 MiB body is within the API limit of 3 MiB');
      assert.equal(await post(3 * 1048576 + 1), 413, 'the API limit still holds');
    } finally {
      await gw.close();
    }
  });

  test('legitimate case: a limit naming a known operation applies to it and to nothing else', async () => {
    const gw = await startGateway(itemsConfig(upstream.url, { api: { rate_limits: [limit(['getItem'])] } }), { files: SPEC_FILES });
    try {
      const get = (path: string) => fetch(gw.url + path, { signal: AbortSignal.timeout(5000) }).then(async (r) => (await r.arrayBuffer(), r.status));
      assert.equal(await get('/items/1'), 200);
      assert.equal(await get('/items/1'), 429);
      assert.equal(await get('/items'), 200);
      assert.equal(await get('/items'), 200);
    } finally {
      await gw.close();
    }
  });
});
