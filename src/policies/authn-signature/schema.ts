import { secretRef } from '../../config/refs.ts';

/** RFC 9421 §6.2.2 algorithms a partner key may be pinned to. */
export const SIGNATURE_ALGORITHMS = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

/** A component identifier as written in config: `@method`, `content-digest`, `"@query-param";name="id"`. */
const componentList = (description: string) =>
  ({
    type: 'array',
    maxItems: 32,
    uniqueItems: true,
    items: { type: 'string', minLength: 1, maxLength: 200, pattern: '^"?[a-z0-9@!#$%&\'*+.^_`|~-]+"?(;.*)?$' },
    description,
  }) as const;

/** Default components an inbound signature must cover when `components` is unset. */
export const DEFAULT_REQUIRED_COMPONENTS: readonly string[] = ['@method', '@target-uri'];

/** Default components of the gateway's signature on upstream requests (each covered when the request has it). */
export const DEFAULT_UPSTREAM_COMPONENTS: readonly string[] = ['@method', '@authority', '@path', '@query', 'content-type', 'content-digest', 'x-rampart-identity'];

/** The keyid pattern (the store's signature keys use the same, src/store/common.ts `SIGNATURE_KEY_ID`). */
export const KEY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$';

/** `apis[].auth.signatures`: HTTP Message Signatures (RFC 9421) as an authentication method. */
export const signatureAuthSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Accept HTTP Message Signatures (RFC 9421, `Signature-Input` + `Signature`) for operations whose OpenAPI security names an `http` scheme with `scheme: signature`. The signature\'s `keyid` names a key below (or, with `store_keys`, one created through the admin API), which names its consumer. See docs/message-signatures.md.',
  properties: {
    keys: {
      type: 'object',
      default: {},
      maxProperties: 10000,
      propertyNames: { pattern: KEY_ID_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['consumer', 'algorithm'],
        properties: {
          consumer: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'The consumer this key authenticates; roles and tenant come from the store\'s consumer of that id when it exists.' },
          algorithm: {
            enum: [...SIGNATURE_ALGORITHMS],
            description: 'The one algorithm this key verifies (pinned: a signature\'s `alg` parameter must equal it or be absent, so a public key can never be used as an HMAC secret).',
          },
          public_key: {
            type: 'string',
            minLength: 1,
            maxLength: 16384,
            description: 'Asymmetric algorithms: the public key, PEM (SPKI; PKCS#1 for RSA) or a JWK as JSON, inline or as a `${file:…}`/`${env:…}` reference.',
          },
          secret: {
            ...secretRef,
            description: '`hmac-sha256` only: the shared secret, base64-encoded, at least 32 bytes once decoded, as a `${file:…}`/`${env:…}` reference (never inline).',
          },
          scopes: { type: 'array', maxItems: 256, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 256 }, default: [], description: 'Scopes the identity of this key carries (for OpenAPI security scopes and rules).' },
        },
      },
      description: 'Keys by `keyid`. Each is pinned to one consumer and one algorithm. At least one unless `store_keys` is on; a keyid here wins over a store key of the same id.',
    },
    store_keys: {
      type: 'boolean',
      default: false,
      description:
        'Also accept the signature keys of the store (created per consumer with `POST /admin/v1/consumers/{id}/signature-keys`) for keyids not listed in `keys`. Lookups are cached for 5 s; a revocation takes effect at once on every instance sharing the invalidation bus (Redis counters), and within 5 s otherwise. Lookups of never-seen keyids are limited to 50 per second per process.',
    },
    components: {
      ...componentList(
        'Components every signature must cover (operations can set their own with `x-rampart-signature: { components: [...] }` or `operations` below). Identifiers as in RFC 9421 §2: derived components `@method`, `@target-uri`, `@authority`, `@scheme`, `@request-target`, `@path`, `@query`, `"@query-param";name="…"`, and lower-case field names (`content-digest`, `date`, `content-type`…).',
      ),
      default: [...DEFAULT_REQUIRED_COMPONENTS],
    },
    operations: {
      type: 'object',
      maxProperties: 10000,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,128}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['components'],
        properties: { components: componentList('Components signatures on this operation must cover (replaces the API-level list; wins over `x-rampart-signature`).') },
      },
      default: {},
      description: 'Required components per operation, by operationId.',
    },
    require_content_digest: {
      type: 'boolean',
      default: true,
      description: 'A request with a body must also cover `content-digest`; whenever `content-digest` is covered, the body must match it (sha-256 or sha-512), or the request is refused 401.',
    },
    label: {
      type: 'string',
      pattern: '^[a-z*][a-z0-9_.*-]{0,63}$',
      description: 'The signature label to verify. Unset: a request must carry exactly one signature.',
    },
    max_age_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300, description: 'Oldest `created` accepted, in seconds (`created` is required).' },
    clock_skew_seconds: { type: 'integer', minimum: 0, maximum: 300, default: 5, description: 'Tolerance for `created` ahead of the clock and for `expires`, in seconds.' },
    nonce: {
      enum: ['required', 'optional'],
      default: 'required',
      description: '`required`: every signature carries a `nonce`, accepted once per key within the age window (the replay cache, shared through Redis with Redis counters). `optional`: a signature without one is not protected against replay within the window.',
    },
    max_nonces_per_key: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 10_000,
      description: 'Live nonces remembered per key at most; past it that key\'s signatures are refused until old ones age out, so one partner cannot fill the cache for the others.',
    },
  },
} as const;

export interface SignatureKeyConfig {
  readonly consumer: string;
  readonly algorithm: SignatureAlgorithm;
  /** PEM or JWK JSON text (resolved from its reference). */
  readonly public_key?: string;
  /** Base64 text (resolved from its reference). */
  readonly secret?: string;
  readonly scopes: readonly string[];
}

export interface SignatureAuthConfig {
  readonly keys: Readonly<Record<string, SignatureKeyConfig>>;
  readonly store_keys: boolean;
  readonly components: readonly string[];
  readonly operations: Readonly<Record<string, { readonly components: readonly string[] }>>;
  readonly require_content_digest: boolean;
  readonly label?: string;
  readonly max_age_seconds: number;
  readonly clock_skew_seconds: number;
  readonly nonce: 'required' | 'optional';
  readonly max_nonces_per_key: number;
}

/** `apis[].upstream_signing`: the gateway signs the requests it sends this API's upstream (RFC 9421). */
export const upstreamSigningSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Sign the requests Rampart sends this API\'s upstream with HTTP Message Signatures (RFC 9421, Ed25519), so the upstream can verify they came through the gateway. The public keys are on the admin listener\'s `/.well-known/jwks.json`. See docs/message-signatures.md.',
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Sign upstream requests.' },
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['keyid', 'private_key'],
        properties: {
          keyid: { type: 'string', pattern: KEY_ID_PATTERN, description: 'The `keyid` the upstream looks the key up by (also its JWKS `kid`).' },
          private_key: { ...secretRef, description: 'Ed25519 private key, PKCS#8 PEM, as a `${file:…}`/`${env:…}` reference.' },
        },
      },
      description: 'The first key signs; the others are only published (the previous key while upstreams still verify with it, or the next one before it signs): rotation with overlap on both sides.',
    },
    components: {
      ...componentList('Components covered, each when the request has it (derived components always).'),
      default: [...DEFAULT_UPSTREAM_COMPONENTS],
    },
    label: { type: 'string', pattern: '^[a-z][a-z0-9_.-]{0,63}$', default: 'rampart', description: 'The signature label.' },
    expires_seconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60, description: 'Lifetime of one signature (`expires` − `created`), in seconds.' },
  },
} as const;

export interface UpstreamSigningConfig {
  readonly enabled: boolean;
  readonly keys?: readonly { readonly keyid: string; readonly private_key: string }[] | undefined;
  readonly components: readonly string[];
  readonly label: string;
  readonly expires_seconds: number;
}

/** Default components of the gateway's signature on its responses (each covered when the response has it). */
export const DEFAULT_RESPONSE_COMPONENTS: readonly string[] = ['@status', 'content-type', 'content-digest'];

/** `apis[].response_signing`: the gateway signs the answers it sends clients (RFC 9421 §2.2.9, Ed25519). */
export const responseSigningSchema = {
  ...upstreamSigningSchema,
  description:
    'Sign the responses this API sends clients with HTTP Message Signatures (RFC 9421, Ed25519): `@status` and the covered fields, with `Content-Digest` added to buffered bodies so the signature vouches for the body. The public keys are on the admin listener\'s `/.well-known/jwks.json`. See docs/message-signatures.md.',
  properties: {
    ...upstreamSigningSchema.properties,
    enabled: { type: 'boolean', default: false, description: 'Sign responses.' },
    components: {
      ...componentList('Components covered, each when the response has it (`@status` always). `content-digest` makes the gateway add a sha-256 Content-Digest to buffered bodies; a streamed body is not covered.'),
      default: [...DEFAULT_RESPONSE_COMPONENTS],
    },
  },
} as const;
