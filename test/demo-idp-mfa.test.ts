/**
 * The demo IdP's TOTP second factor, the factor the demo's step-up on adminDeleteUser relies on, under the attacks
 * a red-team review tried: re-enrolment with a stolen password, online guessing of codes, and replay races.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate } from 'otplib';
import { startIdp, type Idp } from '../demo/idp/server.ts';
import { ACR_MFA, LOCK_MS, MAX_WRONG_CODES, TotpFactor } from '../demo/idp/mfa.ts';

let idp: Idp;
before(async () => {
  idp = await startIdp();
});
after(() => idp?.close());

const post = (path: string, form: Record<string, string>) => fetch(`${idp.url}${path}`, { method: 'POST', body: new URLSearchParams(form) });
const grant = (username: string, password: string, otp: string) => post('/token', { grant_type: 'password', username, password, otp });
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('demo IdP TOTP', () => {
  test('a stolen password alone cannot re-enrol an enrolled user; the current code can', async () => {
    const first = await post('/mfa/enroll', { username: 'admin', password: 'admin-pass' });
    assert.equal(first.status, 200);
    const victim = ((await first.json()) as { secret: string }).secret;
    const attacker = await post('/mfa/enroll', { username: 'admin', password: 'admin-pass' });
    assert.equal(attacker.status, 400, 'the password alone does not replace the factor');
    const withWrongCode = await post('/mfa/enroll', { username: 'admin', password: 'admin-pass', otp: '123456' });
    assert.equal(withWrongCode.status, 400);
    const res = await grant('admin', 'admin-pass', await generate({ secret: victim }));
    assert.equal(res.status, 200, 'the victim\'s authenticator still works');
    const claims = claimsOf(((await res.json()) as { access_token: string }).access_token);
    assert.equal(claims['acr'], ACR_MFA);
    assert.deepEqual(claims['amr'], ['pwd', 'otp']);
  });

  test('wrong codes lock the factor: after five, even the right code fails', async () => {
    const enrolled = (await (await post('/mfa/enroll', { username: 'alice', password: 'alice-pass' })).json()) as { secret: string };
    const right = await generate({ secret: enrolled.secret });
    for (let i = 0; i < MAX_WRONG_CODES; i++) {
      const guess = String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
      assert.equal((await grant('alice', 'alice-pass', guess)).status, 400);
    }
    assert.equal((await grant('alice', 'alice-pass', right)).status, 400, 'locked after five wrong codes');
  });

  test('the lock lifts after LOCK_MS; a code is accepted once, also by two checks in the same tick', () => {
    let now = 1_800_000_000_000;
    const totp = new TotpFactor(() => now);
    const { secret } = totp.enroll('u-x', 'x')!;
    for (let i = 0; i < MAX_WRONG_CODES; i++) assert.equal(totp.check('u-x', 'abcdef'), false);
    now += LOCK_MS + 1;
    return generate({ secret, epoch: Math.floor(now / 1000) }).then((code) => {
      assert.deepEqual([totp.check('u-x', code), totp.check('u-x', code)], [true, false]);
    });
  });

  test('two parallel HTTP grants with the same code: only one token', async () => {
    const enrolled = (await (await post('/mfa/enroll', { username: 'carol', password: 'carol-pass' })).json()) as { secret: string };
    const code = await generate({ secret: enrolled.secret });
    const answers = await Promise.all(Array.from({ length: 4 }, () => grant('carol', 'carol-pass', code)));
    assert.equal(answers.filter((r) => r.status === 200).length, 1);
  });
});
