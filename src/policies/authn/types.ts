import type { Identity, RequestContext, Services } from '../../pipeline/types.ts';
import type { ApiConfig, AuthConfig, RampartConfig } from '../../config/types.ts';
import type { SpecOperation } from '../../openapi/load.ts';

/**
 * Which OpenAPI security scheme types an authenticator satisfies: `http` bearer, `oauth2` and `openIdConnect`
 * map to token authenticators (JWT, introspection); `apiKey` to API keys; `mutualTLS` to client certificates;
 * `http` with `scheme: signature` to HTTP Message Signatures (RFC 9421).
 */
/** Authentication methods whose identity comes from a token and so says how a person authenticated (not keys, not certificates). */
export const TOKEN_METHODS: ReadonlySet<string> = new Set(['jwt', 'introspection']);

export type SchemeKind = 'bearer' | 'apiKey' | 'mutualTLS' | 'httpSignature';

/**
 * One authentication method, compiled once per API. `authenticate` returns undefined when the request carries no
 * credential of this kind (so another method may try), returns an Identity when the credential is valid, and
 * throws a GatewayError (`invalid_token`/`unauthorized`, with a `WWW-Authenticate` header where relevant) when a
 * credential is present but not valid. It never returns undefined for a credential it could not check (fail closed).
 */
export interface Authenticator {
  readonly method: string;
  readonly kind: SchemeKind;
  authenticate(ctx: RequestContext): Promise<Identity | undefined> | Identity | undefined;
}

/** What an authenticator factory sees for one route. */
export interface AuthenticatorBuildInput {
  readonly config: RampartConfig;
  readonly api: ApiConfig;
  /** Index of `api` in `config.apis`, for config paths in errors (`apis[N].auth…`). */
  readonly apiIndex: number;
  readonly auth: AuthConfig;
  readonly services: Services;
  readonly operationId: string;
  /** Undefined on passthrough APIs. */
  readonly operation: SpecOperation | undefined;
  /** Whether the operation allows bearer tokens in the query string (`x-rampart-token-query: true`). */
  readonly allowQueryToken: boolean;
  /** The route's request body cap, in bytes (for a method that must read the body, as a signed Content-Digest does). */
  readonly maxBodyBytes: number;
  /** Records a configuration warning under its config path (see PolicyBuildInput.warn). */
  readonly warn?: (path: string, message: string) => void;
}

/**
 * Builds the authenticator of one method for a route, or undefined when the API does not configure that method.
 * Called once per route at compile time: cache per-API state (key sets, stores) yourself, e.g. in a
 * `WeakMap<ApiConfig, …>`, and throw an Error naming the config path on a bad setting.
 */
export interface AuthenticatorFactory {
  readonly name: string;
  readonly kind: SchemeKind;
  create(input: AuthenticatorBuildInput): Authenticator | undefined;
}
