/**
 * Brute-force protection on authentication (`apis[].auth.failure_backoff`) through a real gateway: invalid
 * credentials are counted per client IP (IPv6 per /64) and per API key id from that client; past the free failures
 * the source is locked out with a growing Retry-After, other clients and keys are unaffected (a stranger cannot
 * lock a key's owner out), parallel guesses get no more answers than the limit, and a locked key id answers the
 * same whether the guessed secret is right or wrong.
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

  it("a stranger's wrong secrets for a key id slow the stranger, never the key's owner; while locked right and wrong secrets look the same", async () => {
    const victim = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'svc-b' })).json['key']);
    const id = victim.split('_')[2]!;
    const stranger = '192.0.2.20';
    // Wrong secrets with a valid checksum for the victim's id: past free_failures_key (2) the pair is locked.
    const guesses: number[] = [];
    for (let i = 0; i < 3; i++) guesses.push((await call(stranger, generateApiKey(id).key)).status);
    assert.deepEqual(guesses, [401, 401, 401]);
    const right = await call(stranger, victim);
    const wrong = await call(stranger, generateApiKey(id).key);
    assert.equal(right.status, 429, 'the stranger is slowed: even the right secret is refused from the stranger');
    assert.equal(wrong.status, 429);
    assert.equal(right.type, wrong.type, 'no oracle: the same answer for right and wrong secrets');
    assert.equal((await call('192.0.2.40', victim)).status, 200, "the owner, from the owner's IP, is not locked out");
    assert.equal((await call('192.0.2.41', generateApiKey(id).key)).status, 401, 'another client guessing starts its own count');
    assert.equal((await call('192.0.2.42', key)).status, 200, 'other keys are unaffected');
  });

  it('parallel wrong keys from one IP get at most the free failures (+1 that takes the lock) answered', async () => {
    const attacker = '203.0.113.77';
    const results = await Promise.all(Array.from({ length: 20 }, () => call(attacker, generateApiKey().key)));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 4, `free failures 3 + the one that earns the lock: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 16);
  });

  it('IPv6 clients are counted per /64: a new address in the same network is still locked', async () => {
    for (let i = 0; i < 4; i++) await call(`2001:db8:7:7::${i + 1}`, generateApiKey().key);
    const sameNet = await call('2001:db8:7:7:ffff::1', key);
    assert.equal(sameNet.status, 429, 'another address of the /64 shares the lockout');
    assert.equal((await call('2001:db8:7:8::1', key)).status, 200, 'the next /64 is another client');
  });
});
