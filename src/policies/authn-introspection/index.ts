import type { ApiConfig } from '../../config/types.ts';
import { looksLikeJwt } from '../authn/bearer.ts';
import { presentedToken, senderBindingFor } from '../authn-dpop/binding.ts';
import type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory } from '../authn/types.ts';
import { Introspector } from './introspect.ts';

export { Introspector } from './introspect.ts';

const introspectors = new WeakMap<ApiConfig, Introspector>();

/**
 * Builds the introspection authenticator of a route (undefined without `auth.introspection`). One Introspector
 * (and cache) per API. When `auth.jwt` is configured too, JWT-shaped tokens are left to it. Bearer tokens come from
 * the `Authorization` header only.
 * @throws ConfigIssueError naming the config path on an invalid setting.
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
  const binding = senderBindingFor(input);
  return {
    method: 'introspection',
    kind: 'bearer',
    authenticate(ctx) {
      const presented = presentedToken(ctx, bearer);
      if (presented === undefined || (jwtToo && looksLikeJwt(presented.token))) return undefined;
      // The introspection answer's `cnf` binds the token as a JWT's would (RFC 8705 §3.2, RFC 9449 §6.2).
      return checker.introspect(presented.token).then((identity) => binding.confirm(ctx, presented, identity));
    },
  };
}

/** Registration entry for the authenticate stage. */
export const introspectionAuthenticatorFactory: AuthenticatorFactory = { name: 'introspection', kind: 'bearer', create: createIntrospectionAuthenticator };
