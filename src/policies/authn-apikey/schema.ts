import { durationMs, secretRef } from '../../config/refs.ts';

/** Top-level `auth_keys:` — how API keys are hashed and cached (shared by every API). */
export const authKeysSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'API key hashing and caching, shared by every API that accepts keys.',
  properties: {
    pepper: {
      ...secretRef,
      description:
        'Server-side pepper for the HMAC-SHA-256 of keys (at least 32 bytes): `${env:RAMPART_KEY_PEPPER}` or `${file:…}`. Required with a PostgreSQL store; with SQLite a random pepper file is generated next to the database when absent (development).',
    },
    cache_ttl_ms: durationMs(10000, 'How long a verified key record is cached in memory, in ms (revocations drop it at once).', 300000),
    negative_cache_ttl_ms: durationMs(1000, 'How long an unknown key id is remembered as unknown, in ms.', 60000),
    max_cache_entries: { type: 'integer', minimum: 10, maximum: 1000000, default: 10000, description: 'Most key records held in memory.' },
    recheck_interval_ms: durationMs(1000, 'Interval of the safety-net re-check of keys changed in the store, in ms.', 60000),
    last_used_flush_ms: durationMs(10000, 'Interval of the batched write of keys\' last-used time, in ms.', 600000),
    rotation_grace_ms: durationMs(86_400_000, 'Default time an old key keeps working after a rotation, in ms (24 h).', 30 * 86_400_000),
  },
} as const;

export interface AuthKeysConfig {
  readonly pepper?: string;
  readonly cache_ttl_ms: number;
  readonly negative_cache_ttl_ms: number;
  readonly max_cache_entries: number;
  readonly recheck_interval_ms: number;
  readonly last_used_flush_ms: number;
  readonly rotation_grace_ms: number;
}

/** `apis[].auth.api_keys` — `true` or the long form. */
export const apiKeyAuthSchema = {
  type: ['boolean', 'object'],
  additionalProperties: false,
  description: 'Accept API keys (`rk_live_…`) for operations whose OpenAPI security names an `apiKey` scheme. `true` = defaults.',
  properties: {
    headers: {
      type: 'array',
      items: { enum: ['x-api-key', 'authorization'] },
      minItems: 1,
      uniqueItems: true,
      default: ['x-api-key', 'authorization'],
      description: 'Where keys are read: `X-API-Key: <key>` and/or `Authorization: ApiKey <key>`. Never the query string.',
    },
  },
} as const;

export type ApiKeyAuthConfig = boolean | { readonly headers: readonly ('x-api-key' | 'authorization')[] };
