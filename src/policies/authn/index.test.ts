import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authConfig, ISSUER_DEFAULTS } from '../../../test/helpers/config.ts';
import type { ApiConfig, AuthConfig, RampartConfig } from '../../config/types.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import type { PolicyBuildInput, Services } from '../../pipeline/types.ts';
import { createAuthnPolicy, schemeKind } from './index.ts';

// No failure back-off: these tests build the stage without the counters service it needs.
const jwtAuth: AuthConfig = authConfig({
  required: true,
  failure_backoff: { enabled: false },
  jwt: {
    token_sources: ['header'],
    max_token_bytes: 8192,
    issuers: [
      {
        ...ISSUER_DEFAULTS,
        issuer: 'https://idp.example',
        audience: 'a',
        jwks_url: 'https://idp.example/jwks',
        algorithms: ['ES256'],
      },
    ],
  },
});

const schemes = {
  bearer: { type: 'http', scheme: 'bearer' },
  key: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
  basic: { type: 'http', scheme: 'basic' },
} as unknown as SpecOperation['securitySchemes'];

function input(auth: AuthConfig | undefined, security: SpecOperation['security'] | undefined): PolicyBuildInput {
  const api = { name: 'orders', auth, operations: {} } as unknown as ApiConfig;
  const operation = security === undefined ? undefined : ({ operationId: 'getOrder', security, securitySchemes: schemes, raw: {} } as unknown as SpecOperation);
  return {
    config: {} as RampartConfig,
    api,
    apiIndex: 3,
    operationId: 'getOrder',
    method: 'GET',
    operation,
    maxBodyBytes: 1024,
    contentTypes: new Set(),
    services: { logger: { warn() {} } } as unknown as Services,
  };
}

test('OpenAPI scheme types map to credential kinds', () => {
  assert.equal(schemeKind({ type: 'http', scheme: 'Bearer' }), 'bearer');
  assert.equal(schemeKind({ type: 'oauth2', flows: {} }), 'bearer');
  assert.equal(schemeKind({ type: 'openIdConnect', openIdConnectUrl: 'https://x' }), 'bearer');
  assert.equal(schemeKind({ type: 'apiKey', in: 'header', name: 'k' }), 'apiKey');
  assert.equal(schemeKind({ type: 'mutualTLS' }), 'mutualTLS');
  assert.equal(schemeKind({ type: 'http', scheme: 'Signature' }), 'httpSignature');
  assert.equal(schemeKind({ type: 'http', scheme: 'basic' }), undefined);
  assert.equal(schemeKind({ type: 'http', scheme: 'basic' }), undefined);
});

test('a scheme the config does not configure stops start-up, naming the config path and operationId', () => {
  assert.throws(() => createAuthnPolicy(input(undefined, [{ bearer: [] }])), /apis\[3\]\.auth: operation "getOrder" requires security/);
  assert.throws(() => createAuthnPolicy(input(jwtAuth, [{ key: [] }])), /apis\[3\]\.auth: operation "getOrder" requires security scheme "key" \(apiKey/);
  assert.throws(() => createAuthnPolicy(input(jwtAuth, [{ basic: [] }])), /not support/);
  assert.throws(() => createAuthnPolicy(input(jwtAuth, [{ nope: [] }])), /does not define/);
});

test('public routes without auth need no stage; with auth the stage still checks presented credentials', () => {
  assert.equal(createAuthnPolicy(input(undefined, [])), undefined);
  assert.equal(createAuthnPolicy(input(undefined, [{}])), undefined);
  assert.equal(createAuthnPolicy(input(jwtAuth, []))?.stage, 'authenticate');
  assert.equal(createAuthnPolicy(input(jwtAuth, [{ bearer: [] }]))?.name, 'authenticate');
  assert.equal(createAuthnPolicy(input(undefined, undefined)), undefined, 'passthrough without auth');
  assert.equal(createAuthnPolicy(input(jwtAuth, undefined))?.stage, 'authenticate', 'passthrough with auth');
});
