import { secretRef } from '../config/refs.ts';

/** `identity`: the signed identity assertion Rampart sends upstream after authentication. */
export const identitySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The short-lived signed identity JWT sent to upstreams after authentication (its JWKS is on the admin listener at /.well-known/jwks.json).',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Send the identity header for authenticated requests.' },
    signing_key: {
      ...secretRef,
      description: 'PKCS#8 PEM private key (EC P-256 → ES256, Ed25519 → EdDSA) as a `${file:…}`/`${env:…}` reference. Unset: a key is generated in memory and rotated.',
    },
    header: {
      type: 'string',
      pattern: '^x-rampart-[a-z0-9-]{1,64}$',
      default: 'x-rampart-identity',
      description: 'Request header carrying the assertion; must start with `x-rampart-` so client copies are always stripped.',
    },
    issuer: { type: 'string', minLength: 1, maxLength: 256, default: 'rampart', description: '`iss` of the assertion.' },
    ttl_seconds: { type: 'integer', minimum: 5, maximum: 3600, default: 60, description: 'Lifetime of one assertion, in seconds.' },
    rotate_hours: {
      type: 'integer',
      minimum: 1,
      maximum: 8760,
      default: 24,
      description: 'Generated keys only: a new key every N hours; the previous one stays in the JWKS (overlap).',
    },
  },
} as const;
