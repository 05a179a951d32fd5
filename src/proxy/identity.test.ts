import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { IdentityConfig } from '../config/types.ts';
import type { RequestContext } from '../pipeline/types.ts';
import { IdentityAsserter } from './identity.ts';
import { SigningKeyRing } from './signing-key.ts';

const CONFIG: IdentityConfig = { enabled: true, header: 'x-rampart-identity', issuer: 'rampart', ttl_seconds: 60, rotate_hours: 24 };
const ctx = (identity?: object) => ({ id: 'req-1', identity }) as unknown as RequestContext;
const ALICE = { subject: 'alice', roles: [], scopes: ['a'], claims: {}, method: 'api_key', keyId: 'k1' };

test('generated keys rotate with overlap: next published before use, previous kept after (frozen clock)', async () => {
  let now = Date.UTC(2030, 0, 1);
  const ring = await SigningKeyRing.create(undefined, 3_600_000, () => now);
  const asserter = new IdentityAsserter(ring, () => now);
  const before = asserter.jwks().keys.map((k) => k['kid']);
  assert.equal(before.length, 2, 'current + next');
  const first = (await asserter.headersFor(ctx(ALICE), 'orders', CONFIG))!['x-rampart-identity']!;
  now += 3_600_000;
  const second = (await asserter.headersFor(ctx(ALICE), 'orders', CONFIG))!['x-rampart-identity']!;
  const after = asserter.jwks().keys.map((k) => k['kid']);
  assert.equal(after.length, 3, 'next + current + previous');
  assert.ok(before.every((kid) => after.includes(kid)), 'keys published before rotation stay published');
  const jwks = createLocalJWKSet(asserter.jwks() as never);
  const options = { issuer: 'rampart', audience: 'orders', currentDate: new Date(now) };
  assert.equal((await jwtVerify(second, jwks, options)).payload['key_id'], 'k1');
  assert.equal((await jwtVerify(first, jwks, { ...options, currentDate: new Date(now - 3_600_000) })).payload.sub, 'alice');
});

test('anonymous requests and a disabled identity produce no header (no signing)', async () => {
  const asserter = await IdentityAsserter.create(CONFIG);
  assert.equal(await asserter.headersFor(ctx(undefined), 'orders', CONFIG), undefined);
  assert.equal(await asserter.headersFor(ctx(ALICE), 'orders', { ...CONFIG, enabled: false }), undefined);
});
