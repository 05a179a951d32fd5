import { ConfigIssueError } from '../../config/errors.ts';
import type { OpenAPIV3 } from 'openapi-types';
import type { Identity, RequestContext, RequestPolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { jwtAuthenticatorFactory } from '../authn-jwt/index.ts';
import { introspectionAuthenticatorFactory } from '../authn-introspection/index.ts';
import { apiKeyAuthenticatorFactory } from '../authn-apikey/index.ts';
import { mtlsAuthenticatorFactory } from '../authn-mtls/index.ts';
import { signatureAuthenticatorFactory } from '../authn-signature/index.ts';
import { BEARER_CHALLENGE } from './bearer.ts';
import { FailureBackoff } from './failure-backoff.ts';
import type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory, SchemeKind } from './types.ts';

export type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory, SchemeKind } from './types.ts';

/**
 * Every authentication method, in the order they are tried within a scheme kind. API keys and mTLS register
 * here too (one line each).
 */
const AUTHENTICATOR_FACTORIES: readonly AuthenticatorFactory[] = [jwtAuthenticatorFactory, introspectionAuthenticatorFactory, apiKeyAuthenticatorFactory, mtlsAuthenticatorFactory, signatureAuthenticatorFactory];

/** Challenges sent with a 401 when no credential was presented, by scheme kind. */
const CHALLENGES: Record<SchemeKind, string | undefined> = {
  bearer: BEARER_CHALLENGE,
  apiKey: 'ApiKey realm="rampart"',
  mutualTLS: undefined,
  httpSignature: undefined,
};

const KIND_LABEL: Record<SchemeKind, string> = {
  bearer: 'bearer (auth.jwt or auth.introspection)',
  apiKey: 'apiKey (auth.api_keys)',
  mutualTLS: 'mutualTLS (auth.mtls)',
  httpSignature: 'http signature (auth.signatures)',
};

/** Maps an OpenAPI security scheme to the kind of credential that satisfies it; undefined when unsupported. */
export function schemeKind(scheme: OpenAPIV3.SecuritySchemeObject | { type: 'mutualTLS' }): SchemeKind | undefined {
  switch (scheme.type) {
    case 'http': {
      const name = scheme.scheme.toLowerCase();
      return name === 'bearer' ? 'bearer' : name === 'signature' ? 'httpSignature' : undefined;
    }
    case 'oauth2':
    case 'openIdConnect':
      return 'bearer';
    case 'apiKey':
      return 'apiKey';
    case 'mutualTLS':
      return 'mutualTLS';
    default:
      return undefined;
  }
}

interface KindSlot {
  readonly kind: SchemeKind;
  readonly authenticators: readonly Authenticator[];
}

/**
 * The authenticate stage (DESIGN.md §3 stage 6) for one route. Its alternatives come from the operation's
 * effective OpenAPI `security` (each requirement object is one alternative whose schemes must all be satisfied);
 * `security: []` or an empty requirement makes the route public. Per request every credential the route knows is
 * checked: a present-but-invalid credential is a 401 even on a public route; the first satisfied alternative sets
 * `ctx.identity`; none on a protected route is a 401 with `WWW-Authenticate`. Any unexpected error denies.
 * Passthrough APIs with `auth` require authentication unless `auth.required: false`.
 * @throws ConfigIssueError naming the config path and operationId when the spec demands a scheme the config lacks.
 */
export function createAuthnPolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const { api, apiIndex, operation, operationId } = input;
  const auth = api.auth;
  const at = `apis[${apiIndex}].auth`;
  const security = operation?.security ?? [];
  if (!auth) {
    if (security.length === 0 || security.some((req) => Object.keys(req).length === 0)) return undefined;
    const names = Object.keys(security[0]!).join(', ');
    throw new ConfigIssueError(at, `operation "${operationId}" requires security (${names}) but the API has no auth configured; add ${at} or mark the operation public with security: []`);
  }
  const buildInput: AuthenticatorBuildInput = {
    config: input.config,
    api,
    apiIndex,
    auth,
    services: input.services,
    operationId,
    operation,
    allowQueryToken: operation?.raw['x-rampart-token-query'] === true,
    maxBodyBytes: input.maxBodyBytes,
    ...(input.warn ? { warn: input.warn } : {}),
  };
  const byKind = new Map<SchemeKind, Authenticator[]>();
  for (const factory of AUTHENTICATOR_FACTORIES) {
    const authenticator = factory.create(buildInput);
    if (!authenticator) continue;
    const list = byKind.get(factory.kind) ?? [];
    list.push(authenticator);
    byKind.set(factory.kind, list);
  }

  let alternatives: (readonly number[])[];
  let isPublic: boolean;
  let slots: KindSlot[];
  if (!operation) {
    slots = [...byKind].map(([kind, authenticators]) => ({ kind, authenticators }));
    alternatives = slots.map((_, i) => [i]);
    isPublic = !auth.required;
    if (slots.length === 0) throw new ConfigIssueError(at, `no authentication method is configured for passthrough API "${api.name}"`);
  } else {
    slots = [];
    const slotOf = (kind: SchemeKind): number => {
      let index = slots.findIndex((s) => s.kind === kind);
      if (index === -1) {
        const authenticators = byKind.get(kind);
        if (!authenticators) return -1;
        index = slots.push({ kind, authenticators }) - 1;
      }
      return index;
    };
    alternatives = [];
    isPublic = security.length === 0;
    for (const requirement of security) {
      const names = Object.keys(requirement);
      if (names.length === 0) {
        isPublic = true;
        continue;
      }
      const alternative: number[] = [];
      for (const name of names) {
        const scheme = operation.securitySchemes[name];
        if (!scheme) throw new ConfigIssueError(at, `operation "${operationId}" names security scheme "${name}", which components.securitySchemes does not define`);
        const kind = schemeKind(scheme as OpenAPIV3.SecuritySchemeObject);
        if (!kind) throw new ConfigIssueError(at, `operation "${operationId}" uses security scheme "${name}" of a type Rampart does not support (${scheme.type})`);
        if (kind === 'apiKey' && (api.operations[operationId]?.sender_constraint ?? auth.sender_constraint.mode) === 'required') {
          throw new ConfigIssueError(`${at}.sender_constraint`, `operation "${operationId}" requires sender-constrained tokens but also accepts API keys (scheme "${name}"), which are bearer credentials; drop the apiKey alternative or the requirement`);
        }
        const slot = slotOf(kind);
        if (slot === -1) {
          throw new ConfigIssueError(at, `operation "${operationId}" requires security scheme "${name}" (${KIND_LABEL[kind]}), which is not configured`);
        }
        if (!alternative.includes(slot)) alternative.push(slot);
      }
      alternatives.push(alternative);
    }
    // On public routes every configured method still checks credentials presented (a bad token is rejected).
    if (isPublic) for (const kind of byKind.keys()) slotOf(kind);
  }
  if (slots.length === 0) return undefined;
  const challenge = [...new Set(slots.map((s) => CHALLENGES[s.kind]).filter((c): c is string => c !== undefined))].join(', ');
  const unauthorizedHeaders = challenge ? { 'www-authenticate': challenge } : undefined;
  const frozenSlots = Object.freeze(slots);
  const frozenAlternatives = Object.freeze(alternatives);

  const backoff = createBackoff(input);

  /** `seen.presented` is set when the request carried a credential of any kind (valid, invalid or not checkable). */
  const authenticate = async (ctx: RequestContext, seen: { presented: boolean }): Promise<void> => {
    const found: (Identity | undefined)[] = [];
    try {
      for (const slot of frozenSlots) found.push(await firstIdentity(slot.authenticators, ctx));
    } catch (error) {
      seen.presented = true;
      if (error instanceof GatewayError) throw error;
      throw new GatewayError('internal', 'authenticator failed', { cause: error });
    }
    if (found.some((identity) => identity !== undefined)) seen.presented = true;
    for (const alternative of frozenAlternatives) {
      if (alternative.every((slot) => found[slot] !== undefined)) {
        ctx.identity = found[alternative[0]!];
        return;
      }
    }
    if (isPublic) {
      ctx.identity = found.find((identity) => identity !== undefined);
      return;
    }
    throw new GatewayError('unauthorized', 'no acceptable credential presented', unauthorizedHeaders ? { headers: unauthorizedHeaders } : undefined);
  };

  return {
    name: 'authenticate',
    stage: 'authenticate',
    async run(ctx: RequestContext): Promise<void> {
      const seen = { presented: false };
      // An open WebSocket's re-check is no guess: no failure-backoff round trips per socket per interval, and a
      // credential that lapsed closes the socket without counting as a failed attempt.
      if (!backoff || ctx.revalidating) return authenticate(ctx, seen);
      let failure: unknown;
      try {
        await authenticate(ctx, seen);
      } catch (error) {
        failure = error;
      }
      // No credential, nothing to guess: the lockout lookups (a counter round trip each) run only when one was
      // presented. They run after authenticating and answer 429 whatever its outcome, so a locked IP or key id
      // learns nothing from its guesses — the right secret included.
      if (!seen.presented) {
        if (failure !== undefined) throw failure;
        return;
      }
      const keyId = ctx.identity?.keyId ?? ctx.notes.authFailure?.keyId;
      // A failure is counted, atomically with the lockout checks, before it is answered: parallel guesses cannot
      // all pass a check made before any of them was counted.
      if (failure instanceof GatewayError && failure.code === 'invalid_token') await backoff.admitFailure(ctx.clientIp, keyId, ctx);
      else await Promise.all([backoff.checkIp(ctx.clientIp, ctx), keyId === undefined ? undefined : backoff.checkKey(keyId, ctx)]);
      if (failure !== undefined) throw failure;
    },
  };
}

function createBackoff(input: PolicyBuildInput): FailureBackoff | undefined {
  const config = input.api.auth?.failure_backoff;
  if (!config?.enabled) return undefined;
  const counters = input.services.counters;
  if (!counters) throw new ConfigIssueError(`apis[${input.apiIndex}].auth.failure_backoff`, 'needs the counters service');
  return new FailureBackoff(config, counters, `authfail:${input.api.name}`, input.config.counters?.ipv6_prefix);
}

async function firstIdentity(authenticators: readonly Authenticator[], ctx: RequestContext): Promise<Identity | undefined> {
  for (const authenticator of authenticators) {
    let identity: Identity | undefined;
    try {
      identity = await authenticator.authenticate(ctx);
    } catch (error) {
      // The method whose credential failed: a bounded label for the auth-failure metrics.
      ctx.notes.authMethod = authenticator.method;
      throw error;
    }
    if (identity !== undefined) return identity;
  }
  return undefined;
}
