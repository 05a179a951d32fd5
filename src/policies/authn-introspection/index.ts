import type { ApiConfig } from '../../config/types.ts';
import { extractBearer, looksLikeJwt } from '../authn/bearer.ts';
import type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory } from '../authn/types.ts';
import { Introspector } from './introspect.ts';

export { Introspector } from './introspect.ts';

const introspectors = new WeakMap<ApiConfig, Introspector>();

/**
 * Builds the introspection authenticator of a route (undefined without `auth.introspection`). One Introspector
 * (and cache) per API. When `auth.jwt` is configured too, JWT-shaped tokens are left to it. Bearer tokens come from
 * the `Authorization` header only.
 * @throws Error naming the config path on an invalid setting.
 */
export function createIntrospectionAuthenticator(input: AuthenticatorBuildInput): Authenticator | undefined {
  const config = input.auth.introspection;
  if (!config) return undefined;
  let introspector = introspectors.get(input.api);
  if (!introspector) {
    introspector = new Introspector(config, {
      at: `apis[${input.apiIndex}].auth.introspection`,
    });
    introspectors.set(input.api, introspector);
  }
  const checker = introspector;
  const jwtToo = input.auth.jwt !== undefined;
  const bearer = { sources: ['header'] as const, maxBytes: config.max_token_bytes };
  return {
    method: 'introspection',
    kind: 'bearer',
    authenticate(ctx) {
      const token = extractBearer(ctx, bearer);
      if (token === undefined || (jwtToo && looksLikeJwt(token))) return undefined;
      return checker.introspect(token);
    },
  };
}

/** Registration entry for the authenticate stage. */
export const introspectionAuthenticatorFactory: AuthenticatorFactory = { name: 'introspection', kind: 'bearer', create: createIntrospectionAuthenticator };
