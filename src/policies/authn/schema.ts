import { senderConstraintSchema } from '../authn-dpop/schema.ts';
import { jwtSchema } from '../authn-jwt/schema.ts';
import { introspectionSchema } from '../authn-introspection/schema.ts';
import { apiKeyAuthSchema } from '../authn-apikey/schema.ts';
import { mtlsAuthSchema } from '../authn-mtls/schema.ts';
import { signatureAuthSchema } from '../authn-signature/schema.ts';
import { failureBackoffSchema } from './failure-backoff-schema.ts';

/**
 * `apis[].auth`: the authentication methods an API accepts. Which one an operation requires comes from its
 * OpenAPI `security`; every scheme it names must be configured here (else start-up fails).
 */
export const authSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Authentication methods for this API. Operations require them through their OpenAPI `security`.',
  properties: {
    required: {
      type: 'boolean',
      default: true,
      description: 'Passthrough APIs only (no spec): whether every request must authenticate. Spec APIs follow each operation\'s `security`.',
    },
    jwt: jwtSchema,
    introspection: introspectionSchema,
    api_keys: apiKeyAuthSchema,
    mtls: mtlsAuthSchema,
    signatures: signatureAuthSchema,
    sender_constraint: senderConstraintSchema,
    failure_backoff: failureBackoffSchema,
  },
} as const;
