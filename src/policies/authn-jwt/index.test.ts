import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { JwtConfig, JwtIssuerConfig } from '../../config/types.ts';
import type { GatewayError } from '../../problem.ts';
import { startTestIssuer, type TestIssuer } from '../../../test/helpers/jwt-issuer.ts';
import { ISSUER_DEFAULTS } from '../../../test/helpers/config.ts';
import { InMemoryTokenRevocations, JwtVerifier, KeySourceUnavailable, RemoteJwks } from './index.ts';

const DEFAULTS = ISSUER_DEFAULTS;

const jwtConfig = (issuer: Partial<JwtIssuerConfig> & { issuer: string }): JwtConfig => ({
  issuers: [{ audience: 'items-api', ...DEFAULTS, ...issuer } as JwtIssuerConfig],
  token_sources: ['header'],
  max_token_bytes: 8192,
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as GatewayError).code ?? (error as Error).name;
  }
}

let issuer: TestIssuer;
before(async () => {
  issuer = await startTestIssuer('items-api');
});
after(() => issuer.close());

describe('RemoteJwks', () => {
  test('a burst of unknown kids refetches at most once per cooldown (frozen clock)', async () => {
    let now = 1_000_000;
    const jwks = new RemoteJwks({ issuer: issuer.issuer, jwksUrl: `${issuer.url}/jwks`, maxAgeMs: 600_000, cooldownMs: 30_000, timeoutMs: 2000, now: () => now });
    const start = issuer.jwksFetches();
    const lookup = (kid: string) => jwks.getKey({ alg: 'ES256', kid }, { payload: '', signature: '' });
    await lookup(issuer.current().kid);
    assert.equal(issuer.jwksFetches() - start, 1, 'first use fetches');
    const burst = () => Promise.allSettled(Array.from({ length: 50 }, () => lookup(randomUUID())));
    const first = await burst();
    assert.ok(first.every((r) => r.status === 'rejected'));
    assert.equal(issuer.jwksFetches() - start, 1, 'within the cooldown: no refetch at all');
    now += 30_000;
    await burst();
    assert.equal(issuer.jwksFetches() - start, 2, 'after the cooldown: exactly one refetch for the whole burst');
    await burst();
    assert.equal(issuer.jwksFetches() - start, 2);
    now += 10_000;
    await burst();
    assert.equal(issuer.jwksFetches() - start, 2);
  });

  test('max-age refetch, stale keys kept when the IdP is down, unavailable when nothing is cached', async () => {
    let now = 5_000_000;
    const stale: string[] = [];
    const jwks = new RemoteJwks({ issuer: issuer.issuer, jwksUrl: `${issuer.url}/jwks`, maxAgeMs: 60_000, cooldownMs: 5_000, timeoutMs: 2000, now: () => now, onStale: (m) => stale.push(m) });
    const lookup = () => jwks.getKey({ alg: 'ES256', kid: issuer.current().kid }, { payload: '', signature: '' });
    const start = issuer.jwksFetches();
    await lookup();
    now += 59_000;
    await lookup();
    assert.equal(issuer.jwksFetches() - start, 1);
    now += 2_000;
    await lookup();
    assert.equal(issuer.jwksFetches() - start, 2, 'refetched after max-age');
    issuer.down = true;
    try {
      now += 61_000;
      await lookup();
      assert.equal(stale.length, 1, 'a failed refresh keeps the cached keys serving');
      const cold = new RemoteJwks({ issuer: issuer.issuer, jwksUrl: `${issuer.url}/jwks`, maxAgeMs: 60_000, cooldownMs: 5_000, timeoutMs: 2000 });
      await assert.rejects(cold.getKey({ alg: 'ES256', kid: 'x' }, { payload: '', signature: '' }), KeySourceUnavailable);
    } finally {
      issuer.down = false;
    }
  });

  test('discovery must name the configured issuer; redirects are not followed', async () => {
    const wrong = new RemoteJwks({ issuer: 'https://other.example', discoveryUrl: `${issuer.url}/.well-known/openid-configuration`, maxAgeMs: 1000, cooldownMs: 1000, timeoutMs: 2000 });
    await assert.rejects(wrong.getKey({ alg: 'ES256' }, { payload: '', signature: '' }), KeySourceUnavailable);
    const redirecting = new RemoteJwks({
      issuer: issuer.issuer,
      jwksUrl: `${issuer.url}/jwks`,
      maxAgeMs: 1000,
      cooldownMs: 1000,
      timeoutMs: 2000,
      fetch: (url, init) => {
        assert.equal(init.redirect, 'error');
        assert.ok(init.signal, 'a timeout signal is always set');
        return fetch(url, init);
      },
    });
    await redirecting.getKey({ alg: 'ES256', kid: issuer.current().kid }, { payload: '', signature: '' });
  });
});

describe('JwtVerifier', () => {
  test('maps claims to the identity (scope/scp, nested roles, consumer fallback to azp)', async () => {
    const verifier = new JwtVerifier(jwtConfig({ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks`, roles_claim: 'realm_access.roles' }), { at: 'apis[0].auth.jwt' });
    const identity = await verifier.verify(await issuer.sign({ sub: 'bob', scp: ['a', 'b'], realm_access: { roles: ['admin'] }, azp: 'cli', tenant: 'acme' }));
    assert.equal(identity.subject, 'bob');
    assert.deepEqual(identity.scopes, ['a', 'b']);
    assert.deepEqual(identity.roles, ['admin']);
    assert.equal(identity.consumer, 'cli');
    assert.equal(identity.tenant, 'acme');
    assert.equal(identity.method, 'jwt');
    const second = await verifier.verify(await issuer.sign({ scope: 'x y', client_id: 'web' }));
    assert.deepEqual(second.scopes, ['x', 'y']);
    assert.equal(second.consumer, 'web');
  });

  test('frozen clock: expiry honours the skew exactly', async () => {
    let now = Date.now();
    const verifier = new JwtVerifier(jwtConfig({ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks` }), { at: 'x', now: () => now });
    const token = await issuer.sign({}, { ttlSeconds: 60, now });
    await verifier.verify(token);
    now += 89_000;
    await verifier.verify(token);
    now += 2_000;
    assert.equal(await codeOf(verifier.verify(token)), 'invalid_token');
  });

  test('revocation: subject revoked-before and single token ids', async () => {
    const revocations = new InMemoryTokenRevocations();
    const verifier = new JwtVerifier(jwtConfig({ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks` }), { at: 'x', revocations });
    const old = await issuer.sign({ sub: 'mallory' }, { now: Date.now() - 10_000 });
    const jti = randomUUID();
    const one = await issuer.sign({ sub: 'eve', jti });
    await verifier.verify(old);
    revocations.revokeSubject('mallory', Math.floor(Date.now() / 1000) - 5);
    assert.equal(await codeOf(verifier.verify(old)), 'invalid_token');
    await verifier.verify(await issuer.sign({ sub: 'mallory' }));
    revocations.revokeToken(jti, Math.floor(Date.now() / 1000) + 300);
    assert.equal(await codeOf(verifier.verify(one)), 'invalid_token');
  });

  test('verified-token cache: the same token is answered from the cache, a tampered one is verified and fails', async () => {
    const verifier = new JwtVerifier(jwtConfig({ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks` }), { at: 'x' });
    const token = await issuer.sign({ sub: 'carol' });
    const first = await verifier.verify(token);
    assert.equal(await verifier.verify(token), first, 'second verification is the cached identity');
    const [h, p, s] = token.split('.') as [string, string, string];
    assert.equal(await codeOf(verifier.verify(`${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`)), 'invalid_token');
    const uncached = new JwtVerifier(jwtConfig({ issuer: issuer.issuer, jwks_url: `${issuer.url}/jwks` }), { at: 'x', verifiedCacheEntries: 0 });
    assert.notEqual(await uncached.verify(token), await uncached.verify(token), 'cache off: verified in full every time');
  });

  test('static PEM keys and HMAC secrets', async () => {
    const pair = await generateKeyPair('ES256');
    const pem = await exportSPKI(pair.publicKey);
    const verifier = new JwtVerifier(jwtConfig({ issuer: 'static', keys: [pem] }), { at: 'x' });
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: 'static', aud: 'items-api', sub: 's', iat, exp: iat + 60 };
    await verifier.verify(await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'whatever' }).sign(pair.privateKey));
    const secret = 'x'.repeat(40);
    const hmac = new JwtVerifier(jwtConfig({ issuer: 'static', secret, algorithms: ['HS256'] }), { at: 'x' });
    await hmac.verify(await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret)));
    const es = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(pair.privateKey);
    assert.equal(await codeOf(hmac.verify(es)), 'invalid_token', 'an HMAC issuer never accepts asymmetric algs');
  });

  test('misconfiguration is rejected with the config path', () => {
    const at = { at: 'apis[2].auth.jwt' };
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i' }), at), /apis\[2\]\.auth\.jwt\.issuers\[0\]: set exactly one of/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', jwks_url: 'http://a', secret: 'x'.repeat(40) }), at), /exactly one/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', jwks_url: 'http://idp.example/jwks' }), at), /jwks_url: must be an https/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', jwks_url: 'https://idp.example/jwks', algorithms: ['RS256', 'HS256'] }), at), /key confusion/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', secret: 'x'.repeat(40), algorithms: ['HS256', 'RS256'] }), at), /only HS256/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', secret: 'short', algorithms: ['HS256'] }), at), /under the 256 bits it needs.*allow_weak_secret/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', keys: ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'] }), at), /private key/);
    assert.throws(() => new JwtVerifier(jwtConfig({ issuer: 'i', keys: [{ kty: 'oct', k: 'AAAA' }] }), at), /public asymmetric JWK/);
  });
});
