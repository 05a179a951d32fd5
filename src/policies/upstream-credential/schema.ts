import { secretRef } from '../../config/refs.ts';

/** Algorithms a minted upstream JWT may be signed with (whatever the upstream already verifies). */
export const MINT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

/** Identity fields a minted claim can take its value from. */
export const IDENTITY_SOURCES = ['subject', 'consumer', 'tenant', 'roles', 'scopes', 'key_id', 'method'] as const;

const headerName = (def: string, description: string) =>
  ({ type: 'string', pattern: '^[a-z0-9!#$%&\'*+.^_`|~-]{1,64}$', default: def, description }) as const;

/** A claim's source: `identity.<field>`, `claims.<path>` of the verified token, or `{ value: … }`. */
const claimSource = {
  anyOf: [
    {
      type: 'string',
      pattern: `^(identity\\.(${IDENTITY_SOURCES.join('|')})|claims\\.[A-Za-z0-9_:/-]{1,128}(\\.[A-Za-z0-9_:/-]{1,128}){0,7})$`,
      description: '`identity.subject|consumer|tenant|roles|scopes|key_id|method`, or `claims.<name>` (dots address nested claims).',
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['value'],
      properties: { value: { description: 'A constant claim value.' } },
    },
  ],
} as const;

/** `apis[].upstream_credential.jwt`. */
const mintJwtSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['algorithm', 'key'],
  description: 'A JWT Rampart signs per identity, in the format the upstream already trusts.',
  properties: {
    header: headerName('authorization', 'Request header carrying the minted token.'),
    prefix: { type: 'string', maxLength: 32, pattern: '^[A-Za-z0-9 _-]*$', default: 'Bearer ', description: 'Text before the token in the header.' },
    algorithm: { enum: [...MINT_ALGORITHMS], description: 'Signature algorithm the upstream verifies.' },
    key: {
      ...secretRef,
      description: 'HS*: the upstream\'s HMAC secret (UTF-8, or bytes with a `base64:`/`base64url:`/`hex:` prefix). Others: a PKCS#8 PEM private key.',
    },
    key_id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$', description: '`kid` header of minted tokens. Unset: none.' },
    type: { type: 'string', pattern: '^[A-Za-z0-9.+/-]{1,64}$', default: 'JWT', description: '`typ` header of minted tokens.' },
    issuer: { type: 'string', minLength: 1, maxLength: 512, description: '`iss` of minted tokens. Unset: none.' },
    audience: { type: 'string', minLength: 1, maxLength: 512, description: '`aud` of minted tokens. Unset: none.' },
    ttl_seconds: { type: 'integer', minimum: 5, maximum: 86_400, default: 300, description: 'Lifetime of a minted token (`exp - iat`), in seconds.' },
    claims: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^[A-Za-z0-9_:/.-]{1,128}$', not: { enum: ['iat', 'exp', 'nbf', 'iss', 'aud'] } },
      additionalProperties: claimSource,
      default: { sub: 'identity.subject' },
      description: 'Claims of the minted token by name: where each value comes from. `iat`/`exp` are set from `ttl_seconds`; `iss`/`aud` by their settings.',
    },
  },
} as const;

/** `apis[].upstream_credential.static`. */
const staticCredentialSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['consumers'],
  description: 'A fixed credential per consumer, read from env vars or files.',
  properties: {
    header: headerName('authorization', 'Request header carrying the credential.'),
    prefix: { type: 'string', maxLength: 32, pattern: '^[A-Za-z0-9 _-]*$', default: '', description: 'Text before the credential in the header.' },
    consumers: {
      type: 'object',
      minProperties: 1,
      maxProperties: 10_000,
      propertyNames: { pattern: '^[A-Za-z0-9._:@-]{1,128}$' },
      additionalProperties: secretRef,
      description: 'Credential by consumer id (`${env:…}`/`${file:…}`). A consumer without one is refused (403).',
    },
  },
} as const;

/** `apis[].upstream_credential`. */
export const upstreamCredentialSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Token exchange at the gateway: the client\'s credential is removed and the upstream gets one Rampart mints for the authenticated identity. Set exactly one of `jwt` or `static`. See docs/upstream-credentials.md.',
  properties: {
    jwt: mintJwtSchema,
    static: staticCredentialSchema,
    strip_headers: {
      type: 'array',
      uniqueItems: true,
      maxItems: 32,
      items: { type: 'string', pattern: '^[a-z0-9!#$%&\'*+.^_`|~-]{1,64}$' },
      default: [],
      description: 'More client request headers never forwarded (e.g. `cookie` when the upstream also reads a session cookie). `authorization`, `x-api-key` and the API\'s apiKey headers are always removed.',
    },
  },
} as const;

export type ClaimSource = string | { readonly value: unknown };

export interface MintJwtConfig {
  readonly header: string;
  readonly prefix: string;
  readonly algorithm: (typeof MINT_ALGORITHMS)[number];
  /** Resolved from its reference. */
  readonly key: string;
  readonly key_id?: string;
  readonly type: string;
  readonly issuer?: string;
  readonly audience?: string;
  readonly ttl_seconds: number;
  readonly claims: Readonly<Record<string, ClaimSource>>;
}

export interface StaticCredentialConfig {
  readonly header: string;
  readonly prefix: string;
  /** Resolved from their references. */
  readonly consumers: Readonly<Record<string, string>>;
}

export interface UpstreamCredentialConfig {
  readonly jwt?: MintJwtConfig;
  readonly static?: StaticCredentialConfig;
  readonly strip_headers: readonly string[];
}
