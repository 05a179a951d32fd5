import type { SecurityHeaders } from '../../pipeline/types.ts';
import type { SecurityHeadersConfig } from '../../config/types.ts';

/** Security headers precomputed once per config: one object for TLS responses, one for plain ones. */
export type { SecurityHeaders } from '../../pipeline/types.ts';

/** Builds the headers every response carries (DESIGN.md §3 stage 12). */
export function createSecurityHeaders(config: SecurityHeadersConfig): SecurityHeaders {
  const plain: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'content-security-policy': config.content_security_policy,
    'referrer-policy': config.referrer_policy,
    'x-frame-options': 'DENY',
  };
  const tls: Record<string, string> = { ...plain };
  if (config.hsts_max_age_seconds > 0) {
    tls['strict-transport-security'] =
      `max-age=${config.hsts_max_age_seconds}` + (config.hsts_include_subdomains ? '; includeSubDomains' : '');
  }
  return {
    tls: Object.freeze(tls),
    plain: Object.freeze(plain),
    remove: new Set(config.remove_response_headers.map((h) => h.toLowerCase())),
  };
}
