import type { ApiConfig } from '../../config/types.ts';
import type { Services } from '../../pipeline/types.ts';
import { looksLikeJwt } from '../authn/bearer.ts';
import type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory } from '../authn/types.ts';
import type { RemoteJwks } from './jwks.ts';
import { tokenRevocationsFor } from './revocations.ts';
import { JwtVerifier } from './verify.ts';
import { presentedToken, senderBindingFor } from '../authn-dpop/binding.ts';

export { JwtVerifier } from './verify.ts';
export { RemoteJwks, KeySourceUnavailable } from './jwks.ts';
export { InMemoryTokenRevocations, tokenRevocationsFor, type TokenRevocations, type RevocationSubject } from './revocations.ts';

const verifiers = new WeakMap<ApiConfig, JwtVerifier>();
const jwksCaches = new WeakMap<Services, Map<string, RemoteJwks>>();

/** Key sets are shared per gateway process and survive reloads, so a reload does not refetch every JWKS. */
function jwksCacheFor(services: Services): (key: string, create: () => RemoteJwks) => RemoteJwks {
  let cache = jwksCaches.get(services);
  if (!cache) {
    cache = new Map();
    jwksCaches.set(services, cache);
  }
  const map = cache;
  return (key, create) => {
    let jwks = map.get(key);
    if (!jwks) {
      jwks = create();
      map.set(key, jwks);
    }
    return jwks;
  };
}

function verifierFor(input: AuthenticatorBuildInput): JwtVerifier | undefined {
  const jwt = input.auth.jwt;
  if (!jwt) return undefined;
  let verifier = verifiers.get(input.api);
  if (!verifier) {
    const logger = input.services.logger;
    verifier = new JwtVerifier(jwt, {
      at: `apis[${input.apiIndex}].auth.jwt`,
      revocations: tokenRevocationsFor(input.services),
      jwksCache: jwksCacheFor(input.services),
      onStale: (message) => logger.warn(message),
      ...(input.warn ? { warn: input.warn } : {}),
    });
    verifiers.set(input.api, verifier);
  }
  return verifier;
}

/**
 * Builds the bearer-JWT authenticator of a route (undefined when the API has no `auth.jwt`). The verifier and its
 * key sets are built once per API; the route only fixes where tokens may come from. When introspection is also
 * configured, tokens that are not JWT-shaped are left to it.
 * @throws ConfigIssueError naming the config path on an invalid issuer setting.
 */
export function createJwtAuthenticator(input: AuthenticatorBuildInput): Authenticator | undefined {
  const verifier = verifierFor(input);
  const jwt = input.auth.jwt;
  if (!verifier || !jwt) return undefined;
  const sources = input.allowQueryToken && jwt.token_sources.includes('query') ? jwt.token_sources : jwt.token_sources.filter((s) => s !== 'query');
  const bearer = { sources: sources.length > 0 ? sources : (['header'] as const), maxBytes: jwt.max_token_bytes };
  const leaveOpaque = input.auth.introspection !== undefined;
  const binding = senderBindingFor(input);
  return {
    method: 'jwt',
    kind: 'bearer',
    authenticate(ctx) {
      const presented = presentedToken(ctx, bearer);
      if (presented === undefined || (leaveOpaque && !looksLikeJwt(presented.token))) return undefined;
      return verifier.verify(presented.token).then((identity) => binding.confirm(ctx, presented, identity));
    },
  };
}

/** Registration entry for the authenticate stage. */
export const jwtAuthenticatorFactory: AuthenticatorFactory = { name: 'jwt', kind: 'bearer', create: createJwtAuthenticator };
