/** `apis[].password_policy`: how request fields marked `x-rampart-password` are judged before the upstream sees them. */
export const passwordPolicySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Password rules for request body fields the spec marks `x-rampart-password: true` (registration, password change): length, strength estimate (zxcvbn), not the account\'s own name or email, not in a breached-password list. See docs/password-policy.md.',
  properties: {
    min_length: { type: 'integer', minimum: 8, maximum: 128, default: 12, description: 'Fewest characters (Unicode code points).' },
    max_length: { type: 'integer', minimum: 64, maximum: 1024, default: 256, description: 'Most characters accepted (longer ones are refused before any estimate runs).' },
    min_score: { type: 'integer', minimum: 0, maximum: 4, default: 3, description: 'Least zxcvbn score (0–4; 3 = "safely unguessable: moderate protection from offline slow-hash scenario").' },
    breached: { type: 'boolean', default: true, description: 'Refuse passwords in the common/breached-password list shipped with @zxcvbn-ts/language-common (about 49 000 entries).' },
    user_fields: {
      type: 'array',
      uniqueItems: true,
      maxItems: 16,
      items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      default: ['username', 'email', 'login', 'name', 'displayName'],
      description: 'Body fields (same object level as the password, or top level) naming the account: the password must not equal them, and the estimate penalises passwords built from them.',
    },
  },
} as const;

export interface PasswordPolicyConfig {
  readonly min_length: number;
  readonly max_length: number;
  readonly min_score: number;
  readonly breached: boolean;
  readonly user_fields: readonly string[];
}
