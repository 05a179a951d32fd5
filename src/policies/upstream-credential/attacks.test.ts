/**
 * Attacks a red-team review found against app-issued HMAC tokens (authn-jwt/verify.ts) and minted upstream
 * credentials, each fixed: revocation of tokens without `iat` or `iss`, odd `aud` types, IdP issuers without `aud`,
 * malformed byte secrets, and minted tokens without a subject.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import type { ApiConfig, JwtConfig, JwtIssuerConfig } from '../../config/types.ts';
import type { Identity, PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import type { GatewayError } from '../../problem.ts';
import { ISSUER_DEFAULTS } from '../../../test/helpers/config.ts';
import { JwtVerifier } from '../authn-jwt/index.ts';
import { InMemoryTokenRevocations } from '../authn-jwt/revocations.ts';
import { secretBytes } from '../authn-jwt/verify.ts';
import { createUpstreamCredentialPolicy } from './index.ts';
import type { UpstreamCredentialConfig } from './schema.ts';

const BASE_ISSUER = {
  ...ISSUER_DEFAULTS,
  issuer: 'shop-app',
  require: ['exp', 'sub'],
  allow_weak_secret: false,
  algorithms: ['HS256'],
  max_token_age_seconds: 86_400,
} as const;
const SECRET = 'k'.repeat(32);
const KEY = new TextEncoder().encode(SECRET);
const jwtConfig = (...issuers: Partial<JwtIssuerConfig>[]): JwtConfig => ({
  issuers: issuers.map((i) => ({ ...BASE_ISSUER, secret: SECRET, ...i }) as JwtIssuerConfig),
  token_sources: ['header'],
  max_token_bytes: 8192,
});
const nowS = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>, key: Uint8Array | KeyObject = KEY, alg = 'HS256') =>
  new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return (error as GatewayError).code ?? `${(error as Error).name}: ${(error as Error).message}`;
  }
}

describe('red team: app tokens', () => {
  test('a subject revocation ("every token of alice before now") also revokes alice\'s tokens without iat', async () => {
    const revocations = new InMemoryTokenRevocations();
    let clock = Date.now();
    // verifiedCacheEntries: 0 isolates the full-verification path (the cache is tested below).
    const verifier = new JwtVerifier(jwtConfig({}), { at: 'a', revocations, verifiedCacheEntries: 0, now: () => clock });
    const token = await sign({ sub: 'alice', exp: nowS() + 3600 }); // iat optional for this issuer
    assert.equal(await outcome(verifier.verify(token)), 'accepted');
    // Stolen token: the monitor's containment revokes alice's tokens issued before now (monitor/containment.ts).
    revocations.revokeSubject('alice', Math.ceil(clock / 1000));
    clock += 2000;
    assert.equal(await outcome(verifier.verify(token)), 'invalid_token', 'a token without iat is treated as issued "now" on every request and outlives any revocation');
  });

  test('an issuer-scoped revocation is seen by the verified-token cache for tokens without iss', async () => {
    const revocations = new InMemoryTokenRevocations();
    const verifier = new JwtVerifier(jwtConfig({ require: ['exp', 'iat', 'sub'] }), { at: 'a', revocations });
    const token = await sign({ sub: 'alice', iat: nowS() - 10, exp: nowS() + 3600 });
    assert.equal(await outcome(verifier.verify(token)), 'accepted');
    revocations.revokeSubject('alice', nowS(), 'shop-app');
    assert.equal(await outcome(verifier.verify(token)), 'invalid_token', 'the cache keys the entry under issuer "" (no iss claim), so neither purge nor re-check matches "shop-app"');
  });

  test('an optional aud of the wrong JSON type is a 401, not an exception', async () => {
    const verifier = new JwtVerifier(jwtConfig({ audience: 'shop' }), { at: 'a' });
    for (const aud of [5, {}, true]) {
      assert.equal(await outcome(verifier.verify(await sign({ sub: 'u', exp: nowS() + 60, aud }))), 'invalid_token', `aud ${JSON.stringify(aud)}`);
    }
  });

  test('an asymmetric (IdP) issuer cannot silently drop aud: a token minted for another client of the IdP is not accepted', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const warnings: string[] = [];
    const config = jwtConfig({ issuer: 'https://idp.example', secret: undefined, keys: [pem], algorithms: ['ES256'], require: ['iss', 'exp', 'iat', 'sub'] });
    let built: JwtVerifier | undefined;
    try {
      built = new JwtVerifier(config, { at: 'a', warn: (p, m) => warnings.push(`${p}: ${m}`) });
    } catch {
      return; // refusing the config is a fix
    }
    const foreign = await sign({ iss: 'https://idp.example', sub: 'u', iat: nowS(), exp: nowS() + 60, aud: 'some-other-app' }, pair.privateKey, 'ES256');
    const accepted = (await outcome(built.verify(foreign))) === 'accepted';
    assert.ok(!accepted || warnings.length > 0, 'any IdP token (any audience) is accepted, and nothing warns');
  });

  test('secretBytes refuses base64 that cannot be a whole encoding, and reads its prefixes in any case', () => {
    assert.throws(() => secretBytes('base64:QUFBQ', 'x'), /x: base64: secret is not valid base64/, 'a dangling base64 character is not dropped silently');
    assert.throws(() => secretBytes('base64url:QUFB+', 'x'), /not valid base64url/, 'a character from the other alphabet');
    assert.equal(secretBytes('base64:QUFBQQ==', 'x').length, 4);
    assert.equal(secretBytes(`HEX:${'ab'.repeat(16)}`, 'x').length, 16, '"HEX:" is the hex prefix, not a 36-byte UTF-8 secret');
    assert.equal(secretBytes(`Base64:${Buffer.alloc(32, 7).toString('base64')}`, 'x').length, 32);
  });
});

const IDENTITY: Identity = Object.freeze({ subject: 'u-1', roles: [], scopes: [], claims: {}, method: 'jwt' });

function mintPolicy(credential: Partial<UpstreamCredentialConfig>) {
  const input = {
    api: { upstream_credential: { strip_headers: [], ...credential } } as unknown as ApiConfig,
    apiIndex: 0,
    operationId: 'op',
    operation: undefined,
  } as unknown as PolicyBuildInput;
  return createUpstreamCredentialPolicy(input)!;
}

describe('red team: minted credentials', () => {
  test('a minted token never goes out without its subject claim (sub from a source the caller lacks): 403', async () => {
    // As in docs/upstream-credentials.md: `sub: identity.consumer`. A JWT caller without client_id/azp has no consumer.
    const policy = mintPolicy({ jwt: { header: 'authorization', prefix: 'Bearer ', algorithm: 'HS256', key: SECRET, type: 'JWT', ttl_seconds: 60, claims: { sub: 'identity.consumer' } } as never });
    for (const subject of ['alice', 'bob']) {
      const ctx = { identity: { ...IDENTITY, subject } } as unknown as RequestContext;
      assert.equal(await outcome(Promise.resolve(policy.run(ctx))), 'forbidden', `no consumer, so no sub, for ${subject}`);
      assert.equal(ctx.upstreamHeaders, undefined);
    }
    const ctx = { identity: { ...IDENTITY, consumer: 'acme' } } as unknown as RequestContext;
    await policy.run(ctx);
    assert.equal(decodeJwt(ctx.upstreamHeaders!['authorization']!.slice(7)).sub, 'acme');
  });
});
