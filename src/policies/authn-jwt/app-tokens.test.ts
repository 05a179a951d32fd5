import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { JwtConfig, JwtIssuerConfig } from '../../config/types.ts';
import type { GatewayError } from '../../problem.ts';
import { ISSUER_DEFAULTS } from '../../../test/helpers/config.ts';
import { JwtVerifier } from './index.ts';
import { secretBytes } from './verify.ts';

/** Tokens as an app issues them itself: HS256, claims `sub`, `iat`, `exp` only, and often a short secret. */
const APP_ISSUER = {
  ...ISSUER_DEFAULTS,
  issuer: 'shop-app',
  require: ['exp', 'sub', 'iat'],
  allow_weak_secret: true,
  algorithms: ['HS256'],
  max_token_age_seconds: 86_400,
} as const;

const config = (...issuers: Partial<JwtIssuerConfig>[]): JwtConfig => ({
  issuers: issuers.map((i) => ({ ...APP_ISSUER, ...i }) as JwtIssuerConfig),
  token_sources: ['header'],
  max_token_bytes: 8192,
});

const now = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>, key: Uint8Array, alg = 'HS256') => new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
const utf8 = (s: string) => new TextEncoder().encode(s);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as GatewayError).code ?? (error as Error).message;
  }
}

describe('app-issued HMAC tokens', () => {
  test('a token with sub, iat and exp only verifies when iss and aud are left out of require; a weak secret warns', async () => {
    const warnings: string[] = [];
    const verifier = new JwtVerifier(config({ secret: 'secret123' }), { at: 'apis[0].auth.jwt', warn: (path, message) => warnings.push(`${path}: ${message}`) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^apis\[0\]\.auth\.jwt\.issuers\[0\]\.secret: HS256 secret is 72 bits, under the 256 bits/);
    const identity = await verifier.verify(await sign({ sub: 'user-7', iat: now(), exp: now() + 600 }, utf8('secret123')));
    assert.equal(identity.subject, 'user-7');
    assert.equal(identity.method, 'jwt');
  });

  test('a weak secret is refused unless allow_weak_secret is set, naming the config path and the way forward', () => {
    assert.throws(
      () => new JwtVerifier(config({ secret: 'secret123', allow_weak_secret: false }), { at: 'apis[3].auth.jwt' }),
      /apis\[3\]\.auth\.jwt\.issuers\[0\]\.secret: HS256 secret is 72 bits.*allow_weak_secret: true/,
    );
    assert.throws(() => new JwtVerifier(config({ secret: 'x'.repeat(40), algorithms: ['HS512'], allow_weak_secret: false }), { at: 'a' }), /HS512 secret is 320 bits, under the 512/);
    assert.doesNotThrow(() => new JwtVerifier(config({ secret: 'x'.repeat(32), allow_weak_secret: false }), { at: 'a' }));
  });

  test('secrets as bytes: hex and base64 prefixes, bytes that are not UTF-8', async () => {
    const raw = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80]), randomBytes(28)]);
    for (const secret of [`hex:${raw.toString('hex')}`, `base64:${raw.toString('base64')}`, `base64url:${raw.toString('base64url')}`]) {
      const warnings: string[] = [];
      const verifier = new JwtVerifier(config({ secret, allow_weak_secret: false }), { at: 'a', warn: (p) => warnings.push(p) });
      assert.deepEqual(warnings, [], 'a 256-bit byte secret is not weak');
      assert.equal((await verifier.verify(await sign({ sub: 'u', iat: now(), exp: now() + 60 }, raw))).subject, 'u');
      assert.equal(await codeOf(verifier.verify(await sign({ sub: 'u', iat: now(), exp: now() + 60 }, utf8(secret)))), 'invalid_token', 'the prefixed text is not the key');
    }
    assert.throws(() => secretBytes('hex:abc', 'x.secret'), /x\.secret: hex: secret is not an even number/);
    assert.throws(() => secretBytes('hex:zz', 'x.secret'), /hex/);
    assert.throws(() => secretBytes('base64:***', 'x.secret'), /not valid base64/);
    assert.deepEqual([...secretBytes('plain:text', 'x')], [...utf8('plain:text')], 'an unknown prefix is part of a UTF-8 secret');
  });

  test('attacks on an app token: alg none, another key, HS384 when HS256 is allowed, missing exp or sub, too long, iat ahead', async () => {
    const key = utf8('secret123');
    const verifier = new JwtVerifier(config({ secret: 'secret123', max_token_age_seconds: 3600 }), { at: 'a' });
    const base = { sub: 'admin', iat: now(), exp: now() + 600 };
    const cases: [string, string][] = [
      ['alg none', new UnsecuredJWT(base).encode()],
      ['another key', await sign(base, utf8('secret124'))],
      ['HS384', await sign(base, key, 'HS384')],
      ['no exp', await sign({ sub: 'admin', iat: now() }, key)],
      ['no sub', await sign({ iat: now(), exp: now() + 60 }, key)],
      ['no iat while required', await sign({ sub: 'admin', exp: now() + 60 }, key)],
      ['lifetime over the maximum', await sign({ sub: 'admin', iat: now(), exp: now() + 7200 }, key)],
      ['expired', await sign({ sub: 'admin', iat: now() - 900, exp: now() - 300 }, key)],
      ['iat in the future', await sign({ sub: 'admin', iat: now() + 600, exp: now() + 900 }, key)],
      ['a different iss', await sign({ ...base, iss: 'someone-else' }, key)],
    ];
    for (const [name, token] of cases) assert.equal(await codeOf(verifier.verify(token)), 'invalid_token', name);
    assert.equal((await verifier.verify(await sign({ ...base, iss: 'shop-app' }, key))).subject, 'admin', 'a present iss that matches is fine');
  });

  test('without iat in require: exp may be at most max_token_age ahead; a present iat in the future is refused', async () => {
    const key = utf8('k'.repeat(32));
    const verifier = new JwtVerifier(config({ secret: 'k'.repeat(32), require: ['exp', 'sub'], max_token_age_seconds: 600 }), { at: 'a' });
    assert.equal((await verifier.verify(await sign({ sub: 'u', exp: now() + 300 }, key))).subject, 'u');
    assert.equal(await codeOf(verifier.verify(await sign({ sub: 'u', exp: now() + 3600 }, key))), 'invalid_token');
    assert.equal(await codeOf(verifier.verify(await sign({ sub: 'u', iat: now() + 120, exp: now() + 300 }, key))), 'invalid_token');
  });

  test('iss and aud stay required by default; an optional aud still has to match when the token names one', async () => {
    const key = utf8('k'.repeat(32));
    const strict = new JwtVerifier(config({ secret: 'k'.repeat(32), require: ['iss', 'aud', 'exp', 'iat', 'sub'], audience: 'shop' }), { at: 'a' });
    const base = { sub: 'u', iat: now(), exp: now() + 60 };
    assert.equal(await codeOf(strict.verify(await sign(base, key))), 'invalid_token', 'no iss, no aud');
    assert.equal(await codeOf(strict.verify(await sign({ ...base, iss: 'shop-app' }, key))), 'invalid_token', 'no aud');
    assert.equal((await strict.verify(await sign({ ...base, iss: 'shop-app', aud: 'shop' }, key))).subject, 'u');
    const loose = new JwtVerifier(config({ secret: 'k'.repeat(32), audience: 'shop' }), { at: 'a' });
    assert.equal((await loose.verify(await sign(base, key))).subject, 'u');
    assert.equal(await codeOf(loose.verify(await sign({ ...base, aud: 'billing' }, key))), 'invalid_token');
    assert.equal((await loose.verify(await sign({ ...base, aud: ['billing', 'shop'] }, key))).subject, 'u');
  });

  test('config: aud required needs an audience; two issuers cannot both omit iss; a token without iss goes to the one that may', async () => {
    assert.throws(() => new JwtVerifier(config({ secret: 'k'.repeat(32), require: ['aud', 'exp', 'sub'] }), { at: 'apis[0].auth.jwt' }), /issuers\[0\]\.audience: is required while require lists aud/);
    assert.throws(() => new JwtVerifier(config({ secret: 'k'.repeat(32) }, { issuer: 'other', secret: 'j'.repeat(32) }), { at: 'a' }), /at most one issuer may leave iss out/);
    const two = new JwtVerifier(config({ secret: 'k'.repeat(32) }, { issuer: 'idp', secret: 'j'.repeat(32), require: ['iss', 'exp', 'sub'] }), { at: 'a' });
    const base = { sub: 'u', iat: now(), exp: now() + 60 };
    assert.equal((await two.verify(await sign(base, utf8('k'.repeat(32))))).subject, 'u');
    assert.equal(await codeOf(two.verify(await sign(base, utf8('j'.repeat(32))))), 'invalid_token', 'without iss only the app issuer is tried');
    assert.equal((await two.verify(await sign({ ...base, iss: 'idp' }, utf8('j'.repeat(32))))).subject, 'u');
  });
});
