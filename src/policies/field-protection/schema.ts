import { secretRef } from '../../config/refs.ts';

/** `apis[].field_protection`: declared in the policy registry (src/policies/index.ts), which adds it to the config schema. */
export const fieldProtectionSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Field-level protection: request body fields marked `x-rampart-encrypt` in the spec are encrypted (AES-256-GCM) before they reach the upstream, which stores ciphertext; in responses they are decrypted only for callers holding one of `read_scopes`. See docs/field-protection.md.',
  properties: {
    keys: {
      type: 'array',
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'key'],
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$', description: 'Key id, stored in each ciphertext.' },
          key: { ...secretRef, description: '32 random bytes (64 hex digits or base64) as a `${file:…}`/`${env:…}` reference.' },
        },
      },
      description: 'Field keys. The `active` one encrypts; every listed one decrypts (keep an old key listed until the upstream data is re-encrypted).',
    },
    active: { type: 'string', description: 'Id of the key that encrypts.' },
    read_scopes: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Scopes any one of which lets a caller read marked response fields in clear (an operation\'s `x-rampart-encrypt: { read_scopes }` overrides it). Without one, callers get the ciphertext.',
    },
  },
} as const;

export interface FieldProtectionConfig {
  readonly keys?: readonly { readonly id: string; readonly key: string }[] | undefined;
  readonly active?: string | undefined;
  readonly read_scopes: readonly string[];
}
