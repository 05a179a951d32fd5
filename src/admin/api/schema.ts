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
    dashboard: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The admin dashboard at `/dashboard/` on the admin listener: log in with an admin token, then a session cookie (SameSite=Strict, HttpOnly) and a CSRF token on every change. See docs/dashboard.md.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Serve the dashboard and its session routes.' },
        session_idle_minutes: { type: 'integer', minimum: 1, maximum: 240, default: 15, description: 'A session unused this long ends.' },
        session_max_hours: { type: 'integer', minimum: 1, maximum: 24, default: 8, description: 'A session ends this long after login, used or not.' },
      },
    },
  },
} as const;

export interface AdminTokenConfig {
  readonly name: string;
  readonly token: string;
  readonly role: 'admin' | 'read_only';
}

export interface DashboardConfig {
  readonly enabled: boolean;
  readonly session_idle_minutes: number;
  readonly session_max_hours: number;
}

export interface AdminConfig {
  readonly tokens: readonly AdminTokenConfig[];
  readonly max_body_bytes: number;
  readonly dashboard: DashboardConfig;
}
