import { durationMs, secretRef } from '../../config/refs.ts';

/** Asymmetric JWS algorithms an issuer may allow. `none` is not in any list: it cannot be configured. */
export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as const;
/** HMAC algorithms: only with a `secret` reference and never together with asymmetric keys (key confusion). */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
/** Least secret length per HMAC algorithm, in bytes (RFC 7518 §3.2: at least the hash size). */
export const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };
export const DEFAULT_ALGORITHMS = ['ES256', 'RS256', 'EdDSA', 'PS256'] as const;
/** Claims an issuer may require; `exp` and `sub` are always required (the schema says so). */
export const REQUIRABLE_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'sub', 'nbf', 'jti'] as const;
export const DEFAULT_REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'sub'] as const;

const seconds = (def: number, min: number, max: number, description: string) =>
  ({ type: 'integer', minimum: min, maximum: max, default: def, description }) as const;
const claimName = (def: string, description: string) =>
  ({ type: 'string', pattern: '^[A-Za-z0-9_:/.-]{1,128}$', default: def, description }) as const;
const httpUrl = (description: string) => ({ type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2048, description }) as const;

/** One trusted token issuer. Exactly one of `discovery_url`, `jwks_url`, `keys` or `secret` says where its keys are. */
export const jwtIssuerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer'],
  description: 'A trusted JWT issuer and how its tokens are checked.',
  properties: {
    issuer: {
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      description: 'Exact `iss` value required in tokens (when `iss` is left out of `require`, tokens without `iss` are accepted, and a present `iss` must still equal this).',
    },
    audience: {
      anyOf: [
        { type: 'string', minLength: 1, maxLength: 512 },
        { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 512 } },
      ],
      description: 'Accepted `aud` value(s); a token must name at least one. Required unless `aud` is left out of `require` (then a present `aud` must still match, when set).',
    },
    require: {
      type: 'array',
      uniqueItems: true,
      items: { enum: [...REQUIRABLE_CLAIMS] },
      allOf: [{ contains: { const: 'exp' } }, { contains: { const: 'sub' } }],
      default: [...DEFAULT_REQUIRED_CLAIMS],
      description:
        'Claims every token must carry. `exp` and `sub` always; leave out `iss`, `aud` or `iat` only for an issuer that does not set them (an upstream that issues its own tokens).',
    },
    discovery_url: httpUrl('OIDC discovery document URL (`…/.well-known/openid-configuration`); its `issuer` must equal `issuer`. HTTPS unless loopback.'),
    jwks_url: httpUrl('JWKS URL of the issuer. HTTPS unless loopback.'),
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: {
        anyOf: [
          { type: 'string', minLength: 1, description: 'A public key in PEM (SPKI), usually `${file:path}`.' },
          { type: 'object', required: ['kty'], properties: { kty: { type: 'string' } }, description: 'A public JWK.' },
        ],
      },
      description: 'Static public keys (JWK objects or PEM via `${file:…}`), for issuers without a JWKS endpoint.',
    },
    secret: {
      ...secretRef,
      description:
        'HMAC secret reference (`${env:…}`/`${file:…}`), only with HS* algorithms and no other keys. The value is UTF-8 text, or bytes when it starts with `base64:`, `base64url:` or `hex:`. At least 256 bits (384/512 for HS384/HS512).',
    },
    allow_weak_secret: {
      type: 'boolean',
      default: false,
      description: 'Accept an HMAC secret shorter than its algorithm needs (an existing app\'s key you cannot change yet). Start-up and `rampart check` warn every time.',
    },
    algorithms: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] },
      default: [...DEFAULT_ALGORITHMS],
      description: 'Allowed `alg` values. `none` is never accepted; HS* only with `secret`.',
    },
    max_token_age_seconds: seconds(3600, 1, 86400 * 31, 'Longest token lifetime accepted (`exp - iat`; without `iat`, `exp` may be at most this far ahead), in seconds.'),
    clock_skew_seconds: seconds(30, 0, 300, 'Tolerance for `exp`, `nbf` and `iat`, in seconds.'),
    required_typ: { type: 'string', pattern: '^[A-Za-z0-9.+/-]{1,64}$', description: 'Required `typ` header, e.g. `at+jwt` (RFC 9068). Unset: not checked.' },
    jwks_cache_max_age_seconds: seconds(600, 1, 86400, 'How long fetched keys are used before a refetch, in seconds.'),
    jwks_cooldown_seconds: seconds(30, 1, 3600, 'Least time between two JWKS fetches (unknown `kid`s cannot make Rampart hammer the IdP), in seconds.'),
    fetch_timeout_ms: durationMs(3000, 'Timeout of one discovery/JWKS fetch, in milliseconds.', 60000),
    scope_claim: claimName('scope', 'Claim holding scopes (space-separated string or array); `scp` is also read. Dots address nested claims.'),
    roles_claim: claimName('roles', 'Claim holding roles (array or space-separated string). Dots address nested claims (`realm_access.roles`).'),
    tenant_claim: claimName('tenant', 'Claim holding the tenant.'),
    consumer_claim: claimName('client_id', 'Claim naming the consumer (client); `azp` is the fallback.'),
  },
} as const;

/** `apis[].auth.jwt`: bearer JWTs (OIDC access tokens). */
export const jwtSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['issuers'],
  description: 'Bearer JWT authentication (OIDC/OAuth 2 access tokens), hardened per RFC 8725.',
  properties: {
    issuers: { type: 'array', minItems: 1, maxItems: 16, items: jwtIssuerSchema, description: 'Trusted issuers; a token is checked against the one its `iss` names.' },
    token_sources: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: ['header', 'query'] },
      default: ['header'],
      description: 'Where tokens are read: `header` (`Authorization: Bearer`). `query` (`access_token`) also needs the operation to set `x-rampart-token-query: true`.',
    },
    max_token_bytes: { type: 'integer', minimum: 256, maximum: 65536, default: 8192, description: 'Longest token accepted, in bytes; longer ones are rejected before parsing.' },
  },
} as const;
