/**
 * Step-up attacks from a red-team review: acr/amr from an issuer not trusted for step-up, a future auth_time kept
 * "fresh", and claim type confusion (which held from the start).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiConfig } from '../../config/types.ts';
import type { Identity, PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import type { GatewayError } from '../../problem.ts';
import { createStepUpPolicy } from './index.ts';

const now = () => Math.floor(Date.now() / 1000);

function policy(stepUp: unknown, warnings: string[] = []) {
  const input = {
    api: { operations: { op: { step_up: stepUp } }, auth: { jwt: { issuers: [{ issuer: 'https://idp.example' }, { issuer: 'app-tokens' }] } } } as unknown as ApiConfig,
    warn: (path: string, message: string) => warnings.push(`${path}: ${message}`),
    apiIndex: 0,
    operationId: 'op',
    operation: { raw: {}, security: [{ oauth: [] }] },
  } as unknown as PolicyBuildInput;
  return createStepUpPolicy(input)!;
}

function allowed(p: ReturnType<typeof policy>, claims: Record<string, unknown>, method = 'jwt', issuer = 'https://idp.example'): boolean {
  try {
    p.run({ identity: { subject: 'u', roles: [], scopes: [], claims, method, issuer } as Identity, notes: {} } as unknown as RequestContext);
    return true;
  } catch (error) {
    assert.equal((error as GatewayError).code, 'insufficient_user_authentication');
    return false;
  }
}

describe('step-up attacks', () => {
  test('step_up.issuers: acr/amr from another issuer of the API (the app\'s own tokens) never satisfy it; unset, start-up warns', () => {
    const p = policy({ acr: ['urn:rampart:acr:mfa'], amr: ['otp'], issuers: ['https://idp.example'] });
    const claims = { acr: 'urn:rampart:acr:mfa', amr: ['otp'] };
    assert.equal(allowed(p, claims), true);
    assert.equal(allowed(p, claims, 'jwt', 'app-tokens'), false, 'the weaker issuer');
    const warnings: string[] = [];
    policy({ acr: ['urn:rampart:acr:mfa'] }, warnings);
    assert.match(warnings[0]!, /apis\[0\]\.operations\.op\.step_up: the API trusts 2 token issuers/);
    assert.throws(() => policy({ acr: ['x'], issuers: ['https://elsewhere.example'] }), /step_up\.issuers: "https:\/\/elsewhere\.example" is not an issuer of this API/);
  });

  test('a future auth_time never keeps a token fresh: age is measured from min(auth_time, iat, now)', () => {
    const p = policy({ max_age: 0, issuers: ['https://idp.example'] });
    assert.equal(allowed(p, { auth_time: now() + 59, iat: now() - 30 }), false, 'issued 30 s ago');
    assert.equal(allowed(p, { auth_time: now() + 59, iat: now() }), true, 'issued just now');
    assert.equal(allowed(p, { auth_time: now() - 2 }), false);
  });

  test('held: type confusion and non-token identities never satisfy it', () => {
    const p = policy({ acr: ['urn:rampart:acr:mfa'], amr: ['otp'], max_age: 300, issuers: ['https://idp.example'] });
    const good = { acr: 'urn:rampart:acr:mfa', amr: ['pwd', 'otp'], auth_time: now() };
    assert.equal(allowed(p, good), true);
    assert.equal(allowed(p, { ...good, acr: ['urn:rampart:acr:mfa'] }), false, 'acr as an array');
    assert.equal(allowed(p, { ...good, amr: 'pwd otp' }), false, 'amr as a string');
    assert.equal(allowed(p, { ...good, amr: [['otp']] }), false, 'amr nested');
    assert.equal(allowed(p, { ...good, auth_time: String(now()) }), false, 'auth_time as a string');
    assert.equal(allowed(p, { ...good, auth_time: null }), false);
    assert.equal(allowed(p, { ...good, auth_time: now() - 301 }), false, 'older than max_age');
    assert.equal(allowed(p, good, 'api_key'), false);
    assert.equal(allowed(p, good, 'mtls'), false);
    assert.equal(allowed(p, good, 'introspection'), true);
  });
});
