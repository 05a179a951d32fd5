/**
 * Brute-force protection on authentication (`apis[].auth.failure_backoff`) through a real gateway: invalid
 * credentials are counted per client IP and per API key id; past the free failures the source is locked out with
 * a growing Retry-After, other clients and keys are unaffected, and a locked key id answers the same whether the
 * guessed secret is right or wrong.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateApiKey } from '../src/policies/authn-apikey/format.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ADMIN_TOKEN, KEYS_SPEC, TEST_ENV, adminCall, keysConfig } from './helpers/apikeys.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const BACKOFF = { free_failures_ip: 3, free_failures_key: 2, base_delay_ms: 2000, max_delay_ms: 60_000 };

describe('authentication failure backoff', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let key = '';

  before(async () => {
    up = await startUpstream();
    const config = keysConfig(up.url, { trusted_proxies: ['127.0.0.1'], monitor: { enabled: false } });
    const api = (config['apis'] as Record<string, unknown>[])[0]!;
    api['auth'] = { api_keys: true, failure_backoff: BACKOFF };
    gw = await startGateway(config, { files: { 'keys.yaml': KEYS_SPEC }, env: TEST_ENV });
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'svc-b', name: 'Service B' })).status, 201);
    key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-b' })).json['key']);
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const call = (ip: string, apiKey?: string) =>
    fetch(`${gw.url}/items`, { headers: { 'x-forwarded-for': ip, ...(apiKey ? { 'x-api-key': apiKey } : {}) } }).then(async (res) => ({
      status: res.status,
      retryAfter: Number(res.headers.get('retry-after') ?? 0),
      type: res.headers.get('content-type')?.includes('json') ? String(((await res.json()) as Record<string, unknown>)['type']) : '',
    }));

  it('an IP sending unknown keys is locked out after the free failures, with a growing Retry-After; others are served', async () => {
    const attacker = '203.0.113.10';
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(attacker, generateApiKey().key)).status);
    assert.deepEqual(statuses, [401, 401, 401], 'the free failures are plain 401s');
    const fourth = await call(attacker, generateApiKey().key);
    assert.equal(fourth.status, 401, 'the failure that crosses the threshold is still answered, then locks');
    const locked = await call(attacker, generateApiKey().key);
    assert.equal(locked.status, 429);
    assert.equal(locked.type, 'https://rampart.dev/problems/auth_backoff');
    assert.ok(locked.retryAfter >= 1 && locked.retryAfter <= 2, `first lockout ≈ base delay, got ${locked.retryAfter}`);
    const seen = up.seen.length;
    assert.equal((await call(attacker, key)).status, 429, 'even a valid key is refused from the locked IP');
    assert.equal(up.seen.length, seen, 'nothing reached the upstream while locked');

    assert.equal((await call('198.51.100.7', key)).status, 200, 'another client with the valid key is served');
    assert.equal((await call('198.51.100.8')).status, 401, 'no credential is not a failure and not locked');

    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await call(attacker, generateApiKey().key)).status, 401, 'after the lockout the next attempt is verified');
    const longer = await call(attacker, generateApiKey().key);
    assert.equal(longer.status, 429);
    assert.ok(longer.retryAfter >= 3 && longer.retryAfter <= 4, `the next lockout doubles, got ${longer.retryAfter}`);
  });

  it('wrong secrets for one key id lock that key id from every IP; while locked right and wrong secrets look the same', async () => {
    const victim = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-b' })).json['key']);
    const id = victim.split('_')[2]!;
    // Wrong secrets with a valid checksum for the victim's id, each from a different IP (so no IP lockout).
    const guesses: number[] = [];
    for (let i = 0; i < 3; i++) guesses.push((await call(`192.0.2.${20 + i}`, generateApiKey(id).key)).status);
    assert.deepEqual(guesses, [401, 401, 401]);
    const right = await call('192.0.2.40', victim);
    const wrong = await call('192.0.2.41', generateApiKey(id).key);
    assert.equal(right.status, 429, 'the right secret is refused while the key id is locked');
    assert.equal(wrong.status, 429);
    assert.equal(right.type, wrong.type, 'no oracle: the same answer for right and wrong secrets');
    assert.equal((await call('192.0.2.42', key)).status, 200, 'other keys are unaffected');
  });
});
