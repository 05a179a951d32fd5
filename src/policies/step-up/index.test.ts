import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiConfig } from '../../config/types.ts';
import type { Identity, PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import type { GatewayError } from '../../problem.ts';
import { createStepUpPolicy } from './index.ts';

const now = () => Math.floor(Date.now() / 1000);

function policy(stepUp: unknown, options: { fromSpec?: boolean; security?: Record<string, string[]>[] } = {}) {
  const input = {
    api: { operations: options.fromSpec ? {} : { op: { step_up: stepUp } } } as unknown as ApiConfig,
    apiIndex: 0,
    operationId: 'op',
    operation: { raw: options.fromSpec ? { 'x-rampart-auth': stepUp } : {}, security: options.security ?? [{ oauth: [] }] },
  } as unknown as PolicyBuildInput;
  return createStepUpPolicy(input);
}

function identity(claims: Record<string, unknown>, method = 'jwt'): Identity {
  return { subject: 'u', roles: [], scopes: [], claims, method };
}

function verdict(p: ReturnType<typeof policy>, who: Identity | undefined): { code: string; challenge?: string } | 'allowed' {
  try {
    p!.run({ identity: who, notes: {} } as unknown as RequestContext);
    return 'allowed';
  } catch (error) {
    const e = error as GatewayError;
    return { code: e.code, ...(e.headers?.['www-authenticate'] ? { challenge: e.headers['www-authenticate'] } : {}) };
  }
}

describe('step-up authentication (RFC 9470)', () => {
  const mfa = { acr: ['urn:rampart:acr:mfa'], amr: ['otp'], max_age: 300 };

  test('a fresh MFA token passes; each missing piece is refused with the challenge', () => {
    const p = policy(mfa);
    const good = { acr: 'urn:rampart:acr:mfa', amr: ['pwd', 'otp'], auth_time: now() - 10 };
    assert.equal(verdict(p, identity(good)), 'allowed');
    assert.equal(verdict(p, identity(good, 'introspection')), 'allowed');
    const challenge = 'Bearer realm="rampart", error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:rampart:acr:mfa", max_age="300"';
    for (const [name, claims] of [
      ['password only', { ...good, acr: 'urn:rampart:acr:pwd', amr: ['pwd'] }],
      ['acr as an array', { ...good, acr: ['urn:rampart:acr:mfa'] }],
      ['amr as a string', { ...good, amr: 'otp' }],
      ['amr without otp', { ...good, amr: ['pwd', 'sms'] }],
      ['no auth_time', { acr: good.acr, amr: good.amr }],
      ['auth_time as a string', { ...good, auth_time: String(now()) }],
      ['auth_time too old', { ...good, auth_time: now() - 301 }],
      ['auth_time far in the future', { ...good, auth_time: now() + 3600 }],
    ] as const) {
      assert.deepEqual(verdict(p, identity(claims)), { code: 'insufficient_user_authentication', challenge }, name);
    }
  });

  test('API keys and client certificates never satisfy it, whatever claims they carry', () => {
    const p = policy(mfa);
    const claims = { acr: 'urn:rampart:acr:mfa', amr: ['otp'], auth_time: now() };
    for (const method of ['api_key', 'mtls']) assert.equal((verdict(p, identity(claims, method)) as { code: string }).code, 'insufficient_user_authentication', method);
    assert.equal((verdict(p, undefined) as { code: string }).code, 'unauthorized');
  });

  test('only max_age, only acr: the challenge names what is asked', () => {
    assert.deepEqual(verdict(policy({ max_age: 60 }), identity({ auth_time: now() - 61 })), {
      code: 'insufficient_user_authentication',
      challenge: 'Bearer realm="rampart", error="insufficient_user_authentication", error_description="A different authentication level is required", max_age="60"',
    });
    assert.equal(verdict(policy({ acr: ['a', 'b'] }), identity({ acr: 'b' })), 'allowed');
    assert.match((verdict(policy({ acr: ['a', 'b'] }), identity({})) as { challenge: string }).challenge, /acr_values="a b"/);
  });

  test('from the spec extension; malformed or on a public operation stops start-up naming it', () => {
    assert.equal(verdict(policy({ acr: ['x'] }, { fromSpec: true }), identity({ acr: 'x' })), 'allowed');
    assert.throws(() => policy({ acr: 'x' }, { fromSpec: true }), /x-rampart-auth on operation op at \/acr: must be array/);
    assert.throws(() => policy({}, { fromSpec: true }), /x-rampart-auth on operation op/);
    assert.throws(() => policy({ acr: ['a"b'] }, { fromSpec: true }), /x-rampart-auth on operation op at \/acr\/0/, 'a quote would break the challenge header');
    assert.throws(() => policy({ max_age: 5 }, { security: [] }), /apis\[0\]\.operations\.op\.step_up: the operation allows anonymous calls/);
    assert.throws(() => policy({ max_age: 5 }, { security: [{ oauth: [] }, {}] }), /allows anonymous calls/);
  });
});
