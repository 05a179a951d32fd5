/** `apis[].operations.<id>.step_up`, or `x-rampart-auth` on the operation (the config wins). */
export const stepUpSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description:
    'Step-up authentication (RFC 9470): the authentication context the caller\'s token must show for this operation; otherwise 401 `insufficient_user_authentication` with a challenge naming what is needed. API keys and client certificates never satisfy it. See docs/step-up.md.',
  properties: {
    acr: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' },
      description: 'Accepted `acr` values (any one), e.g. `urn:rampart:acr:mfa`.',
    },
    amr: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' },
      description: 'Authentication methods the token\'s `amr` must all contain, e.g. `[otp]` or `[hwk]`.',
    },
    issuers: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 2048 },
      description: 'Issuers (`auth.jwt.issuers[].issuer`, or the introspection `issuer`/endpoint) whose `acr`/`amr` are trusted here: `acr` values mean what their issuer says. Unset: any issuer of the API (warned when it has several).',
    },
    max_age: {
      type: 'integer',
      minimum: 0,
      maximum: 86_400 * 31,
      description: 'Longest time since the user last authenticated (`auth_time`), in seconds.',
    },
  },
} as const;

export interface StepUpConfig {
  readonly acr?: readonly string[];
  readonly amr?: readonly string[];
  readonly max_age?: number;
  readonly issuers?: readonly string[];
}
