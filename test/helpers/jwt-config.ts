/** Every `auth.jwt.issuers[]` setting at its schema default, for tests that build verifier configs by hand. */
export const ISSUER_DEFAULTS = {
  require: ['iss', 'aud', 'exp', 'iat', 'sub'],
  allow_weak_secret: false,
  algorithms: ['ES256', 'RS256', 'EdDSA', 'PS256'],
  max_token_age_seconds: 3600,
  clock_skew_seconds: 30,
  jwks_cache_max_age_seconds: 600,
  jwks_cooldown_seconds: 30,
  fetch_timeout_ms: 3000,
  scope_claim: 'scope',
  roles_claim: 'roles',
  tenant_claim: 'tenant',
  consumer_claim: 'client_id',
} as const;
