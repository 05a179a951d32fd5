/** Security response headers (config path `security_headers`). */
export const securityHeadersSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Headers added to every response. Defaults are the safe choice for JSON APIs.',
  properties: {
    hsts_max_age_seconds: {
      type: 'integer',
      minimum: 0,
      maximum: 63072000,
      default: 31536000,
      description: 'Strict-Transport-Security max-age on TLS responses (0 disables HSTS).',
    },
    hsts_include_subdomains: { type: 'boolean', default: true, description: 'Add includeSubDomains to HSTS.' },
    content_security_policy: {
      type: 'string',
      default: "default-src 'none'; frame-ancestors 'none'",
      maxLength: 4096,
      description: 'Content-Security-Policy value.',
    },
    referrer_policy: { type: 'string', default: 'no-referrer', maxLength: 64, description: 'Referrer-Policy value.' },
    remove_response_headers: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
      default: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime', 'via'],
      description: 'Upstream response headers removed (banners and version disclosure).',
    },
  },
} as const;
