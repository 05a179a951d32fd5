import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportSPKI, generateKeyPair, jwtVerify, importSPKI, SignJWT } from 'jose';
import type { Identity } from '../../pipeline/types.ts';
import { InMemoryTokenRevocations } from './revocations.ts';
import { VerifiedTokenCache, withVerifiedCache, type TokenVerifier } from './verified-cache.ts';

const T0 = 1_900_000_000_000;

function identity(claims: Record<string, unknown>): Identity {
  return Object.freeze({ subject: String(claims['sub']), roles: [], scopes: [], claims: Object.freeze(claims), method: 'jwt' });
}

/** A real ES256 verifier (jose) that counts how often it runs, with an injectable clock. */
async function realVerifier(clock: { now: number }) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const key = await importSPKI(await exportSPKI(publicKey), 'ES256');
  const counter = { calls: 0 };
  const verifier: TokenVerifier = {
    async verify(token) {
      counter.calls++;
      const { payload } = await jwtVerify(token, key, { issuer: 'https://idp', audience: 'api', currentDate: new Date(clock.now) });
      return identity(payload as Record<string, unknown>);
    },
  };
  const sign = (claims: Record<string, unknown>, expSeconds: number) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://idp')
      .setAudience('api')
      .setSubject('alice')
      .setIssuedAt(Math.floor(clock.now / 1000))
      .setExpirationTime(Math.floor(clock.now / 1000) + expSeconds)
      .sign(privateKey);
  return { verifier, counter, sign };
}

test('a verified token is answered from the cache; the signature is not checked again', async () => {
  const clock = { now: T0 };
  const { verifier, counter, sign } = await realVerifier(clock);
  const cached = withVerifiedCache(verifier, new VerifiedTokenCache({ now: () => clock.now }));
  const token = await sign({}, 600);
  const first = await cached.verify(token);
  const second = await cached.verify(token);
  assert.equal(counter.calls, 1);
  assert.equal(second, first);
  assert.equal(second.subject, 'alice');
});

test('a tampered token (other signature or payload) is a different key and is verified in full, and fails', async () => {
  const clock = { now: T0 };
  const { verifier, counter, sign } = await realVerifier(clock);
  const cached = withVerifiedCache(verifier, new VerifiedTokenCache({ now: () => clock.now }));
  const token = await sign({}, 600);
  await cached.verify(token);
  const [h, p, s] = token.split('.') as [string, string, string];
  const forgedSig = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`;
  const otherPayload = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', iss: 'https://idp', aud: 'api', exp: 9e9 })).toString('base64url')}.${s}`;
  await assert.rejects(cached.verify(forgedSig));
  await assert.rejects(cached.verify(otherPayload));
  assert.equal(counter.calls, 3);
  await assert.rejects(cached.verify(forgedSig), 'failures are never cached');
  assert.equal(counter.calls, 4);
});

test('an entry never outlives exp, nor maxTtlMs', async () => {
  const clock = { now: T0 };
  const { verifier, counter, sign } = await realVerifier(clock);
  const cache = new VerifiedTokenCache({ now: () => clock.now, maxTtlMs: 60_000 });
  const cached = withVerifiedCache(verifier, cache);
  const shortLived = await sign({}, 30);
  await cached.verify(shortLived);
  clock.now += 29_999;
  await cached.verify(shortLived);
  assert.equal(counter.calls, 1, 'still valid just before exp');
  clock.now += 1;
  await assert.rejects(cached.verify(shortLived), 'at exp the cache no longer answers and jose rejects it');
  assert.equal(counter.calls, 2);

  clock.now = T0;
  const longLived = await sign({}, 3600);
  await cached.verify(longLived);
  clock.now += 60_000;
  await cached.verify(longLived);
  assert.equal(counter.calls, 4, 'maxTtlMs forces a full verification');
});

test('revocation: a revoked subject or jti is not answered from the cache, and purge drops entries', () => {
  const clock = { now: T0 };
  const cache = new VerifiedTokenCache({ now: () => clock.now });
  const revocations = new InMemoryTokenRevocations(() => clock.now);
  const iat = T0 / 1000 - 10;
  cache.set('tok-a', identity({ iss: 'https://idp', sub: 'alice', iat, exp: iat + 3600, jti: 'j1' }));
  cache.set('tok-b', identity({ iss: 'https://idp', sub: 'bob', iat, exp: iat + 3600, jti: 'j2' }));
  cache.set('tok-c', identity({ iss: 'https://idp', sub: 'carol', iat, exp: iat + 3600, jti: 'j3' }));
  assert.ok(cache.get('tok-a', revocations));
  revocations.revokeSubject('alice', T0 / 1000);
  assert.equal(cache.get('tok-a', revocations), undefined);
  revocations.revokeToken('j2', iat + 3600);
  assert.equal(cache.get('tok-b', revocations), undefined);
  assert.ok(cache.get('tok-c', revocations));
  cache.purgeSubject('carol', T0 / 1000, 'https://idp');
  assert.equal(cache.get('tok-c'), undefined);
  cache.set('tok-d', identity({ iss: 'https://idp', sub: 'dan', iat, exp: iat + 3600, jti: 'j4' }));
  cache.purgeToken('j4');
  assert.equal(cache.get('tok-d'), undefined);
});

test('bounded: past maxEntries the oldest entry goes; tokens without exp are not cached', () => {
  const clock = { now: T0 };
  const cache = new VerifiedTokenCache({ now: () => clock.now, maxEntries: 3 });
  const exp = T0 / 1000 + 600;
  for (let i = 0; i < 5; i++) cache.set(`tok-${i}`, identity({ sub: `u${i}`, exp }));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('tok-0'), undefined);
  assert.equal(cache.get('tok-1'), undefined);
  assert.ok(cache.get('tok-4'));
  cache.set('tok-noexp', identity({ sub: 'x' }));
  assert.equal(cache.get('tok-noexp'), undefined);
  assert.throws(() => new VerifiedTokenCache({ maxEntries: 0 }), /maxEntries/);
  assert.throws(() => new VerifiedTokenCache({ maxTtlMs: 0 }), /maxTtlMs/);
});

test('revocation events purge the caches registered with the revocation list', () => {
  const clock = { now: T0 };
  const cache = new VerifiedTokenCache({ now: () => clock.now });
  const revocations = new InMemoryTokenRevocations(() => clock.now);
  revocations.onRevoke(cache);
  const iat = T0 / 1000 - 10;
  cache.set('tok-a', identity({ iss: 'https://idp', sub: 'alice', iat, exp: iat + 3600, jti: 'j1' }));
  cache.set('tok-b', identity({ iss: 'https://idp', sub: 'bob', iat, exp: iat + 3600, jti: 'j2' }));
  cache.set('tok-c', identity({ iss: 'https://idp', sub: 'carol', iat, exp: iat + 3600, jti: 'j3' }));
  revocations.revokeSubject('alice', T0 / 1000, 'https://idp');
  assert.equal(cache.size, 2, 'alice purged at once, not on her next request');
  revocations.revokeToken('j2', iat + 3600);
  assert.equal(cache.size, 1);
  assert.ok(cache.get('tok-c', revocations), 'other subjects stay cached');
});
