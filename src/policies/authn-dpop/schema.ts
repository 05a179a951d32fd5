import { secretRef } from '../../config/refs.ts';

/** Signature algorithms a DPoP proof may use (asymmetric only: the proof's key is public). */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

/** `apis[].auth.sender_constraint`: sender-constrained tokens (DPoP, RFC 9449; certificate-bound, RFC 8705). */
export const senderConstraintSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Sender-constrained access tokens: a token bound to a key (`cnf.jkt`, DPoP) needs a valid DPoP proof of that key, one bound to a certificate (`cnf.x5t#S256`) the same TLS client certificate, always. `mode: required` also refuses unbound tokens. See docs/sender-constrained-tokens.md.',
  properties: {
    mode: {
      enum: ['allowed', 'required'],
      default: 'allowed',
      description: '`allowed`: bound tokens are checked, plain bearer tokens accepted. `required`: every token must be DPoP- or certificate-bound. `operations.<id>.sender_constraint` overrides it.',
    },
    dpop_algorithms: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: [...DPOP_ALGORITHMS] },
      default: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      description: 'Signature algorithms accepted for DPoP proofs.',
    },
    proof_max_age_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60, description: 'Oldest DPoP proof accepted (`iat`), in seconds; its `jti` is remembered this long (replay).' },
    clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 5, description: 'Tolerance for a proof `iat` ahead of the clock, in seconds.' },
    nonce: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Server-provided nonces (RFC 9449 §8): proofs must carry a recent nonce Rampart issued, which limits pre-generated proofs.',
      properties: {
        enabled: { type: 'boolean', default: false, description: 'Require nonces in DPoP proofs.' },
        key: { ...secretRef, description: 'HMAC key nonces are derived from; required with Redis counters so every instance accepts the others\' nonces. Default: random per process.' },
        rotate_seconds: { type: 'integer', minimum: 10, maximum: 86_400, default: 300, description: 'A new nonce every N seconds; the previous one stays valid for one more period.' },
      },
    },
  },
} as const;

export interface SenderConstraintConfig {
  readonly mode: 'allowed' | 'required';
  readonly dpop_algorithms: readonly (typeof DPOP_ALGORITHMS)[number][];
  readonly proof_max_age_seconds: number;
  readonly clock_skew_seconds: number;
  readonly nonce: { readonly enabled: boolean; readonly key?: string; readonly rotate_seconds: number };
}
