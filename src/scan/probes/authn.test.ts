import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactVerify, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { algNoneToken, expiredToken, guessHmacSecret, keyConfusionToken, publicKeyPem, WEAK_SECRETS, wrongKeyToken } from './authn.ts';

const { privateKey, publicKey } = await generateKeyPair('ES256');
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ sub: 'u-alice', scope: 'profile' }).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).setIssuedAt(now).setExpirationTime(now + 600).sign(privateKey);

test('the original token verifies (the forgeries below are measured against a real key)', async () => {
  assert.equal((await jwtVerify(token, publicKey)).payload.sub, 'u-alice');
});

test('alg: none keeps the claims and drops the signature', async () => {
  const forged = algNoneToken(token);
  assert.deepEqual(decodeProtectedHeader(forged), { alg: 'none', kid: 'k1', typ: 'at+jwt' });
  assert.deepEqual(decodeJwt(forged), decodeJwt(token));
  assert.ok(forged.endsWith('.'));
  await assert.rejects(jwtVerify(forged, publicKey));
});

test('wrong key: same header (alg, kid) and claims, a signature the real key does not verify', async () => {
  const forged = await wrongKeyToken(token);
  assert.deepEqual(decodeProtectedHeader(forged), decodeProtectedHeader(token));
  assert.deepEqual(decodeJwt(forged), decodeJwt(token));
  await assert.rejects(jwtVerify(forged, publicKey), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  const hs = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('a-very-long-test-secret-of-32-bytes!'));
  assert.equal(decodeProtectedHeader(await wrongKeyToken(hs)).alg, 'HS256');
  assert.ok((await exportJWK(publicKey)).kty === 'EC');
});

test('expired: exp and iat an hour or two in the past, the old signature kept', async () => {
  const forged = expiredToken(token, now);
  const claims = decodeJwt(forged);
  assert.equal(claims.exp, now - 3600);
  assert.equal(claims.iat, now - 7200);
  assert.equal(claims.sub, 'u-alice');
  assert.equal(forged.split('.')[2], token.split('.')[2]);
  await assert.rejects(jwtVerify(forged, publicKey));
});

test('key confusion: the claims signed HS256 with the PEM text of the public key (from PEM, JWK or JWKS)', async () => {
  const pem = await publicKeyPem(JSON.stringify({ keys: [{ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)), kid: 'other' }, { ...(await exportJWK(publicKey)), kid: 'k1' }] }), 'k1');
  assert.ok(pem?.startsWith('-----BEGIN PUBLIC KEY-----'));
  assert.equal(await publicKeyPem(pem!), pem, 'PEM is used as given');
  const forged = await keyConfusionToken(token, pem!);
  assert.deepEqual(decodeProtectedHeader(forged), { alg: 'HS256', kid: 'k1', typ: 'at+jwt' });
  const verified = await compactVerify(forged, new TextEncoder().encode(pem!));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), decodeJwt(token));
  assert.equal(await publicKeyPem('not a key'), undefined);
});

test('weak HMAC secrets are found offline; a long random one and asymmetric tokens are not', async () => {
  const weak = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now - 10).sign(new TextEncoder().encode('changeme'));
  assert.equal(await guessHmacSecret(weak), 'changeme', 'found even though the token has expired');
  const strong = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS384' }).sign(new TextEncoder().encode('f3b9c1d7e5a2b8c4d6e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7'));
  assert.equal(await guessHmacSecret(strong), undefined);
  assert.equal(await guessHmacSecret(token), undefined);
  assert.equal(await guessHmacSecret('garbage'), undefined);
  assert.ok(WEAK_SECRETS.length <= 40);
});
