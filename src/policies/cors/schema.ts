/** Per-API or per-operation CORS allowlist (config path `apis[].cors`, `apis[].operations.<id>.cors`). */
export const corsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['allow_origins'],
  description: 'Cross-origin access. Only listed origins get CORS headers; preflights are answered by the gateway.',
  properties: {
    allow_origins: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: { type: 'string', pattern: '^(\\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$' },
      description: 'Exact origins (scheme://host[:port]). `*` is allowed only without credentials.',
    },
    allow_methods: {
      type: 'array',
      items: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] },
      description: 'Methods allowed cross-origin; default: the methods the route declares.',
    },
    allow_headers: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
      default: ['authorization', 'content-type', 'x-request-id'],
      description: 'Request headers allowed cross-origin.',
    },
    expose_headers: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
      default: ['x-request-id', 'retry-after', 'ratelimit', 'ratelimit-policy'],
      description: 'Response headers readable cross-origin.',
    },
    allow_credentials: { type: 'boolean', default: false, description: 'Send Access-Control-Allow-Credentials.' },
    max_age_seconds: { type: 'integer', minimum: 0, maximum: 86400, default: 600, description: 'Preflight cache time.' },
  },
} as const;
