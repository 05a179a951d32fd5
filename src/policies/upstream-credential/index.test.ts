import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { ApiConfig } from '../../config/types.ts';
import type { Identity, PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import { createUpstreamCredentialPolicy } from './index.ts';
import type { UpstreamCredentialConfig } from './schema.ts';

const IDENTITY: Identity = Object.freeze({
  subject: 'u-1',
  consumer: 'acme',
  tenant: 't-9',
  roles: ['admin', 'ops'],
  scopes: ['read', 'write'],
  claims: { org: { id: 'o-3' }, email: 'a@example.com' },
  method: 'jwt',
});

function policyFor(credential: Partial<UpstreamCredentialConfig>, warnings: string[] = []) {
  const input = {
    api: { upstream_credential: { strip_headers: [], ...credential } } as unknown as ApiConfig,
    apiIndex: 1,
    operationId: 'op',
    operation: undefined,
    warn: (path: string, message: string) => warnings.push(`${path}: ${message}`),
  } as unknown as PolicyBuildInput;
  return createUpstreamCredentialPolicy(input)!;
}

async function mint(credential: Partial<UpstreamCredentialConfig>, identity: Identity | undefined = IDENTITY): Promise<Record<string, string> | undefined> {
  const ctx = { identity, upstreamHeaders: undefined, stripUpstreamHeaders: undefined } as unknown as RequestContext;
  await policyFor(credential).run(ctx);
  return ctx.upstreamHeaders;
}

const jwt = (algorithm: string, key: string, extra: Record<string, unknown> = {}) =>
  ({ jwt: { header: 'authorization', prefix: 'Bearer ', algorithm, key, type: 'JWT', ttl_seconds: 60, claims: { sub: 'identity.subject' }, ...extra } }) as unknown as Partial<UpstreamCredentialConfig>;

describe('upstream credential minting', () => {
  test('ES256, EdDSA and RS256 keys sign tokens the upstream verifies with the public key', async () => {
    for (const [alg, pair] of [
      ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['EdDSA', generateKeyPairSync('ed25519')],
      ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ] as const) {
      const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const headers = await mint(jwt(alg, pem, { key_id: 'k1', issuer: 'rampart', audience: 'shop' }));
      const token = headers!['authorization']!.slice('Bearer '.length);
      const { payload } = await jwtVerify(token, pair.publicKey, { algorithms: [alg], issuer: 'rampart', audience: 'shop' });
      assert.equal(payload.sub, 'u-1');
      assert.equal(decodeProtectedHeader(token).kid, 'k1');
    }
  });

  test('claims map from the identity and the verified token; absent sources are left out; constants are constants', async () => {
    const secret = 'k'.repeat(32);
    const headers = await mint(
      jwt('HS256', secret, {
        header: 'x-app-token',
        prefix: '',
        claims: { sub: 'identity.consumer', roles: 'identity.roles', scope: 'identity.scopes', org: 'claims.org.id', kid: 'identity.key_id', v: { value: 2 } },
      }),
    );
    const token = headers!['x-app-token']!;
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
    assert.deepEqual({ ...payload, iat: 0, exp: 0 }, { sub: 'acme', roles: ['admin', 'ops'], scope: 'read write', org: 'o-3', v: 2, iat: 0, exp: 0 });
  });

  test('a token is reused for the same claims and differs per identity; anonymous requests get none', async () => {
    const policy = policyFor(jwt('HS256', 'k'.repeat(32)));
    const run = async (identity: Identity | undefined) => {
      const ctx = { identity } as unknown as RequestContext;
      await policy.run(ctx);
      return ctx;
    };
    const a = await run(IDENTITY);
    const b = await run(IDENTITY);
    const c = await run({ ...IDENTITY, subject: 'u-2' });
    assert.equal(a.upstreamHeaders!['authorization'], b.upstreamHeaders!['authorization']);
    assert.notEqual(a.upstreamHeaders!['authorization'], c.upstreamHeaders!['authorization']);
    const anonymous = await run(undefined);
    assert.equal(anonymous.upstreamHeaders, undefined);
    assert.ok(anonymous.stripUpstreamHeaders!.has('authorization') && anonymous.stripUpstreamHeaders!.has('x-api-key'), 'credentials are stripped on anonymous requests too');
  });

  test('a key that does not fit the algorithm stops start-up naming the path', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.throws(() => policyFor(jwt('ES256', ec)), /apis\[1\]\.upstream_credential\.jwt\.key: a ec key cannot sign ES256/);
    assert.throws(() => policyFor(jwt('EdDSA', ec)), /cannot sign EdDSA/);
    assert.throws(() => policyFor(jwt('RS256', rsa)), /cannot sign RS256/);
    assert.throws(() => policyFor(jwt('HS256', ec)), /HS256 needs the upstream's HMAC secret/);
    const warnings: string[] = [];
    policyFor(jwt('HS256', 'short'), warnings);
    assert.match(warnings[0]!, /upstream_credential\.jwt\.key: the upstream trusts a 40-bit HS256 secret/);
  });
});
