import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { GatewayError } from '../../problem.ts';
import { DpopNonces } from './nonce.ts';
import { accessTokenHash, verifyProof, type ProofOptions } from './proof.ts';

const OPTIONS: ProofOptions = { algorithms: ['ES256', 'RS256', 'PS256'], maxAgeSeconds: 60, skewSeconds: 5 };
const URL_ = 'https://api.example/orders/1';
const expected = { method: 'DELETE', url: URL_, accessToken: 'token-1', nowMs: Date.now(), jkt: '' };

interface Signed {
  readonly proof: string;
  readonly jkt: string;
}

async function signed(alg: string, claims: Record<string, unknown>, header: Record<string, unknown> = {}, options: Record<string, unknown> = {}): Promise<Signed> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(publicKey);
  const used = (header['jwk'] as Record<string, unknown> | undefined) ?? jwk;
  const jkt = await calculateJwkThumbprint(used as never).catch(() => 'none');
  const proof = await new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), htm: 'DELETE', htu: URL_, ath: accessTokenHash('token-1'), ...claims })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...header } as never)
    .sign(privateKey);
  return { proof, jkt };
}

async function reason(made: Promise<Signed> | string, options = OPTIONS, jkt?: string): Promise<string> {
  try {
    const { proof, jkt: own } = typeof made === 'string' ? { proof: made, jkt: 'none' } : await made;
    await verifyProof(proof, { ...expected, jkt: jkt ?? own }, options);
    return 'ok';
  } catch (error) {
    return (error as GatewayError).message;
  }
}

test('a good proof returns its key thumbprint and jti', async () => {
  const { proof, jkt } = await signed('ES256', { jti: 'j-1' });
  const verified = await verifyProof(proof, { ...expected, jkt }, OPTIONS);
  assert.equal(verified.jti, 'j-1');
  assert.equal(verified.jkt, jkt);
  assert.match(await reason(signed('ES256', {}), OPTIONS, 'a'.repeat(43)), /proof key is not the key the token is bound to/, 'another key: refused before the signature is checked');
});

test('htu normalisation: case of scheme and host and default ports are equivalent; userinfo, other schemes and paths are not', async () => {
  assert.equal(await reason(signed('ES256', { htu: 'HTTPS://API.EXAMPLE:443/orders/1' })), 'ok');
  for (const htu of ['https://user@api.example/orders/1', 'wss://api.example/orders/1', 'https://api.example/orders/1/', 'https://api.example/orders/%31x', 'https://api.example:8443/orders/1', 42]) {
    assert.match(await reason(signed('ES256', { htu })), /htu does not match/, String(htu));
  }
});

test('RSA keys outside 2048–4096 bits, crit, jku and oversized proofs are refused before verifying', async () => {
  const small = { kty: 'RSA', e: 'AQAB', n: randomBytes(128).toString('base64url') };
  const huge = { kty: 'RSA', e: 'AQAB', n: randomBytes(1024).toString('base64url') };
  assert.match(await reason(signed('RS256', {}, { jwk: small })), /RSA key outside/, 'a header naming a 1024-bit key');
  assert.match(await reason(signed('RS256', {}, { jwk: huge })), /RSA key outside/, 'an 8192-bit key costs CPU to verify');
  assert.equal(await reason(signed('PS256', {}, {}, { modulusLength: 2048 })), 'ok');
  const bigE = { kty: 'RSA', e: randomBytes(384).toString('base64url'), n: randomBytes(384).toString('base64url') };
  assert.match(await reason(signed('RS256', {}, { jwk: bigE })), /public exponent is not 65537/);
  const raw = (header: Record<string, unknown>) => `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC' }, ...header })).toString('base64url')}.e30.AAAA`;
  assert.match(await reason(raw({ crit: ['exp'], exp: 1 })), /header crit not accepted/);
  assert.match(await reason(signed('ES256', {}, { jku: 'https://evil.example/jwks' })), /jku/);
  assert.match(await reason(`${'a'.repeat(4000)}.${'b'.repeat(100)}.c`), /size limit/);
  assert.match(await reason(signed('ES384', {})), /alg not accepted/);
});

test('server nonces: the current and the previous period are accepted, older ones and junk are not', () => {
  let now = 1_000_000_000;
  const nonces = new DpopNonces('k'.repeat(32), 300, () => now);
  const first = nonces.current();
  now += 300_000;
  assert.ok(nonces.accepts(first) && nonces.accepts(nonces.current()));
  now += 300_000;
  assert.ok(!nonces.accepts(first));
  for (const junk of [undefined, 5, '', 'x'.repeat(43), first.slice(1)]) assert.ok(!nonces.accepts(junk));
  assert.equal(new DpopNonces('k'.repeat(32), 300, () => now).current(), nonces.current(), 'instances with one key agree');
});
