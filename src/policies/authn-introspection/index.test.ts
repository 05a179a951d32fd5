import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { IntrospectionConfig } from '../../config/types.ts';
import type { GatewayError } from '../../problem.ts';
import { startIntrospectionServer, type IntrospectionServer } from '../../../test/helpers/introspection-server.ts';
import { ExpiringLru } from './cache.ts';
import { Introspector } from './index.ts';

let server: IntrospectionServer;
before(async () => {
  server = await startIntrospectionServer('rampart', 's3cr:et/+');
});
after(() => server.close());

const config = (extra: Partial<IntrospectionConfig> = {}): IntrospectionConfig => ({
  endpoint: server.url,
  client_id: 'rampart',
  client_secret: 's3cr:et/+',
  cache_ttl_seconds: 60,
  negative_cache_seconds: 5,
  cache_max_entries: 100,
  timeout_ms: 500,
  clock_skew_seconds: 0,
  max_token_bytes: 8192,
  ...extra,
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as GatewayError).code;
  }
}

test('active token: identity from the answer; cached; the cache never outlives exp (frozen clock)', async () => {
  let now = Date.now();
  const exp = Math.floor(now / 1000) + 20;
  server.tokens.set('tok-a', { active: true, sub: 'alice', client_id: 'web', scope: 'orders:read profile', exp, tenant: 'acme' });
  const introspector = new Introspector(config(), { at: 'x', now: () => now });
  const start = server.calls();
  const identity = await introspector.introspect('tok-a');
  assert.equal(identity.subject, 'alice');
  assert.equal(identity.consumer, 'web');
  assert.deepEqual(identity.scopes, ['orders:read', 'profile']);
  assert.equal(identity.method, 'introspection');
  await Promise.all([introspector.introspect('tok-a'), introspector.introspect('tok-a')]);
  assert.equal(server.calls() - start, 1, 'served from cache');
  now += 21_000;
  server.tokens.set('tok-a', { active: false });
  assert.equal(await codeOf(introspector.introspect('tok-a')), 'invalid_token', 'after exp the endpoint is asked again');
  assert.equal(server.calls() - start, 2);
});

test('inactive and unacceptable answers are 401 and negatively cached for a short time', async () => {
  let now = Date.now();
  const introspector = new Introspector(config({ audience: 'items-api' }), { at: 'x', now: () => now });
  server.tokens.set('tok-aud', { active: true, sub: 'bob', aud: 'other-api' });
  server.tokens.set('tok-refresh', { active: true, sub: 'bob', token_type: 'refresh_token', aud: 'items-api' });
  server.tokens.set('tok-expired', { active: true, sub: 'bob', aud: 'items-api', exp: Math.floor(now / 1000) - 10 });
  for (const token of ['tok-unknown', 'tok-aud', 'tok-refresh', 'tok-expired']) assert.equal(await codeOf(introspector.introspect(token)), 'invalid_token', token);
  const start = server.calls();
  await codeOf(introspector.introspect('tok-unknown'));
  assert.equal(server.calls(), start, 'negative cache');
  now += 5_001;
  await codeOf(introspector.introspect('tok-unknown'));
  assert.equal(server.calls(), start + 1, 'negative entry expired');
});

test('fail closed: endpoint down or too slow → 503, never cached, never allowed', async () => {
  const introspector = new Introspector(config({ timeout_ms: 100 }), { at: 'x' });
  server.tokens.set('tok-b', { active: true, sub: 'alice' });
  server.down = true;
  try {
    assert.equal(await codeOf(introspector.introspect('tok-b')), 'service_unavailable');
  } finally {
    server.down = false;
  }
  server.delayMs = 400;
  try {
    assert.equal(await codeOf(introspector.introspect('tok-b')), 'service_unavailable');
  } finally {
    server.delayMs = 0;
  }
  assert.equal((await introspector.introspect('tok-b')).subject, 'alice', 'recovered: not poisoned by failures');
  const wrongClient = new Introspector(config({ client_secret: 'wrong' }), { at: 'x' });
  assert.equal(await codeOf(wrongClient.introspect('tok-b')), 'service_unavailable', 'client auth refused → deny');
});

test('config: endpoint must be https (or loopback http)', () => {
  assert.throws(() => new Introspector(config({ endpoint: 'http://idp.example/introspect' }), { at: 'apis[0].auth.introspection' }), /apis\[0\]\.auth\.introspection\.endpoint/);
});

test('ExpiringLru is bounded and evicts the least recently used', () => {
  const now = 0;
  const lru = new ExpiringLru<number>(2, () => now);
  lru.set('a', 1, 100);
  lru.set('b', 2, 100);
  lru.get('a');
  lru.set('c', 3, 100);
  assert.equal(lru.size, 2);
  assert.equal(lru.get('b'), undefined);
  assert.equal(lru.get('a'), 1);
  lru.set('d', 4, 0);
  assert.equal(lru.get('d'), undefined, 'already expired: not stored');
});
