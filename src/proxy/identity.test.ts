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

test('assertions signed with each key type verify with jose, carry every claim, and a fresh jti each time', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const pems = {
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    EdDSA: generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
  const now = Date.UTC(2030, 0, 1);
  for (const [alg, pem] of Object.entries(pems)) {
    const asserter = await IdentityAsserter.create({ ...CONFIG, signing_key: pem }, () => now);
    const identity = { ...ALICE, consumer: 'c1', tenant: 't1', roles: ['admin'] };
    const tokens = await Promise.all([1, 2].map(async () => (await asserter.headersFor(ctx(identity), 'orders', CONFIG))!['x-rampart-identity']!));
    const jwks = createLocalJWKSet(asserter.jwks() as never);
    const verified = await jwtVerify(tokens[0]!, jwks, { issuer: 'rampart', audience: 'orders', algorithms: [alg], typ: 'rampart-identity+jwt', currentDate: new Date(now) });
    assert.equal(verified.protectedHeader.alg, alg);
    assert.equal(verified.protectedHeader.kid, asserter.jwks().keys[0]!['kid']);
    const { jti, ...rest } = verified.payload;
    assert.match(String(jti), /^[0-9a-f-]{36}$/);
    assert.deepEqual(rest, { scope: 'a', roles: ['admin'], auth_method: 'api_key', request_id: 'req-1', consumer: 'c1', tenant: 't1', key_id: 'k1', iss: 'rampart', sub: 'alice', aud: 'orders', iat: now / 1000, exp: now / 1000 + 60 });
    assert.notEqual(JSON.parse(Buffer.from(tokens[1]!.split('.')[1]!, 'base64url').toString()).jti, jti, 'a new jti per assertion');
    const [h, , s] = tokens[0]!.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...verified.payload, sub: 'mallory' })).toString('base64url')}.${s}`;
    await assert.rejects(jwtVerify(forged, jwks, { currentDate: new Date(now) }), /signature/, 'a changed payload does not verify');
  }
});
