import { durationMs, secretRef } from '../../config/refs.ts';

/** `apis[].auth.introspection`: opaque tokens checked with the issuer's RFC 7662 endpoint. */
export const introspectionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint', 'client_id', 'client_secret'],
  description: 'Opaque bearer tokens checked by OAuth 2 token introspection (RFC 7662).',
  properties: {
    endpoint: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2048, description: 'Introspection endpoint URL. HTTPS unless loopback.' },
    client_id: { type: 'string', minLength: 1, maxLength: 256, description: 'Client id Rampart authenticates with (HTTP Basic).' },
    client_secret: { ...secretRef, description: 'Client secret reference (`${env:…}`/`${file:…}`).' },
    audience: {
      anyOf: [
        { type: 'string', minLength: 1, maxLength: 512 },
        { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 512 } },
      ],
      description: 'If set, the introspection `aud` must name one of these.',
    },
    issuer: { type: 'string', minLength: 1, maxLength: 2048, description: 'If set, the introspection `iss` must equal it.' },
    cache_ttl_seconds: { type: 'integer', minimum: 0, maximum: 3600, default: 60, description: 'How long an active result is cached, in seconds (never past the token `exp`). 0 disables.' },
    negative_cache_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 5, description: 'How long an inactive result is cached, in seconds.' },
    cache_max_entries: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000, description: 'Most cached results (least recently used dropped first).' },
    timeout_ms: durationMs(2000, 'Timeout of one introspection call, in milliseconds; then the request is denied (503).', 60000),
    clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 30, description: 'Tolerance for `exp`/`nbf`, in seconds.' },
    max_token_bytes: { type: 'integer', minimum: 256, maximum: 65536, default: 8192, description: 'Longest token accepted, in bytes.' },
  },
} as const;
