/** `apis[].self_service_keys`: callers manage their own API keys through the data plane. */
export const selfServiceKeysSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Self-service API keys: a user authenticated with a token (JWT or introspection, never an API key) creates, lists and revokes their own keys at `path`, with scopes a subset of the token\'s. Off by default. See docs/self-service-keys.md.',
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Serve the self-service key endpoints on this API.' },
    path: {
      type: 'string',
      pattern: '^(/[A-Za-z0-9._~-]+){1,8}$',
      default: '/me/api-keys',
      description: 'Path of the endpoints, under the API\'s base path: `POST` creates, `GET` lists, `DELETE <path>/{id}` revokes.',
    },
    max_keys: { type: 'integer', minimum: 1, maximum: 100, default: 5, description: 'Most live (unrevoked, unexpired) keys one user may hold.' },
    max_ttl_days: { type: 'integer', minimum: 1, maximum: 3650, default: 90, description: 'Longest lifetime of a key, in days (every self-service key expires).' },
    default_ttl_days: { type: 'integer', minimum: 1, maximum: 3650, default: 30, description: 'Lifetime when the request names none, in days (capped by max_ttl_days).' },
    scheme: {
      type: 'string',
      pattern: '^[A-Za-z0-9._-]{1,64}$',
      description: 'The spec\'s security scheme (http bearer, oauth2 or openIdConnect) the endpoints require. Default: the first such scheme.',
    },
  },
} as const;

export interface SelfServiceKeysConfig {
  readonly enabled: boolean;
  readonly path: string;
  readonly max_keys: number;
  readonly max_ttl_days: number;
  readonly default_ttl_days: number;
  readonly scheme?: string;
}
