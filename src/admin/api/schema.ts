import { secretRef } from '../../config/refs.ts';

/** `admin:` — the admin API's own authentication. */
export const adminSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Authentication of the admin listener: every route but /healthz, /readyz and the identity JWKS needs a token (GET read_only, changes admin). With no tokens configured, those routes answer 401.',
  properties: {
    tokens: {
      type: 'array',
      default: [],
      maxItems: 64,
      description: 'Bearer tokens accepted by the admin listener (admin API, metrics, incidents, blocks, rate-limit routes), each from a secret reference.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'token'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'Who holds the token; recorded as the actor of admin events.' },
          token: { ...secretRef, description: 'The token: `${env:NAME}` or `${file:path}` (at least 32 characters). Literal tokens are rejected.' },
          role: { enum: ['admin', 'read_only'], default: 'read_only', description: '`read_only` may list and read; `admin` may also create, rotate, revoke and delete.' },
        },
      },
    },
    max_body_bytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 65536, description: 'Largest admin API request body, in bytes.' },
  },
} as const;

export interface AdminTokenConfig {
  readonly name: string;
  readonly token: string;
  readonly role: 'admin' | 'read_only';
}

export interface AdminConfig {
  readonly tokens: readonly AdminTokenConfig[];
  readonly max_body_bytes: number;
}
