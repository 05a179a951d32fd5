import { ConfigIssueError } from '../../config/errors.ts';
import type { ApiConfig } from '../../config/types.ts';
import { createOpenApiAjv } from '../../openapi/ajv.ts';
import type { Identity, PolicyBuildInput, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { BEARER_CHALLENGE } from '../authn/bearer.ts';
import { TOKEN_METHODS } from '../authn/types.ts';
import { stepUpSchema, type StepUpConfig } from './schema.ts';

/** How far in the future an `auth_time` may be (clock skew), in seconds. */
const AUTH_TIME_SKEW_SECONDS = 60;

const validateSpecStepUp = createOpenApiAjv().compile(stepUpSchema);

/**
 * Step-up authentication (RFC 9470) for one operation: after authentication, the caller's token must show the
 * required context — an accepted `acr`, every required `amr` method, an `auth_time` within `max_age` — or the
 * request is refused with 401 and `WWW-Authenticate: Bearer error="insufficient_user_authentication", …` naming
 * what to obtain. Only token identities can satisfy it: an API key or a client certificate says nothing about how a
 * user authenticated, so it never does. Returns undefined for operations without a requirement.
 * @throws ConfigIssueError naming the config path or spec extension when malformed, or set on an operation without authentication.
 */
export function createStepUpPolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const configured = input.api.operations[input.operationId]?.step_up;
  const raw = input.operation?.raw['x-rampart-auth'];
  const at = configured ? `apis[${input.apiIndex}].operations.${input.operationId}.step_up` : `x-rampart-auth on operation ${input.operationId}`;
  if (!configured && raw === undefined) return undefined;
  const config = configured ?? specStepUp(raw, at);
  const security = input.operation?.security;
  if (security !== undefined && (security.length === 0 || security.some((r) => Object.keys(r).length === 0))) {
    throw new ConfigIssueError(at, 'the operation allows anonymous calls (security: [] or {}), so a step-up requirement could never hold; require authentication first');
  }
  const challenge = challengeOf(config);
  const acr = config.acr ? new Set(config.acr) : undefined;
  const issuers = config.issuers ? new Set(config.issuers) : undefined;
  const known = [...(input.api.auth?.jwt?.issuers.map((i) => i.issuer) ?? []), ...(input.api.auth?.introspection ? [input.api.auth.introspection.issuer ?? input.api.auth.introspection.endpoint] : [])];
  for (const issuer of config.issuers ?? []) {
    if (!known.includes(issuer)) throw new ConfigIssueError(`${at}.issuers`, `"${issuer}" is not an issuer of this API (${known.join(', ') || 'none configured'})`);
  }
  if (!issuers && known.length > 1) {
    input.warn?.(at, `the API trusts ${known.length} token issuers and any of them can vouch for this step-up; acr values mean what their issuer says, so name the ones that do multi-factor authentication in issuers`);
  }
  return {
    name: 'step-up',
    stage: 'authorize',
    run(ctx: RequestContext): void {
      const identity = ctx.identity;
      if (identity === undefined) throw new GatewayError('unauthorized', 'step-up operation without an identity');
      const missing = issuers && !(identity.issuer !== undefined && issuers.has(identity.issuer)) ? 'issuer not trusted for step-up' : unmet(identity, config, acr, Math.floor(Date.now() / 1000));
      if (missing !== undefined) {
        throw new GatewayError('insufficient_user_authentication', `step-up required: ${missing}`, { headers: { 'www-authenticate': challenge } });
      }
    },
  };
}

function specStepUp(raw: unknown, at: string): StepUpConfig {
  if (!validateSpecStepUp(raw)) {
    const error = validateSpecStepUp.errors?.[0];
    throw new ConfigIssueError(`${at}${error?.instancePath ? ` at ${error.instancePath}` : ''}`, error?.message ?? 'invalid');
  }
  return raw as StepUpConfig;
}

/** What the identity lacks, for the log; undefined when the requirement holds. */
function unmet(identity: Identity, config: StepUpConfig, acr: ReadonlySet<string> | undefined, now: number): string | undefined {
  if (!TOKEN_METHODS.has(identity.method)) return `${identity.method} credentials carry no user authentication context`;
  const claims = identity.claims;
  if (acr && !(typeof claims['acr'] === 'string' && acr.has(claims['acr']))) return 'acr not accepted';
  if (config.amr) {
    const amr = claims['amr'];
    if (!Array.isArray(amr) || !config.amr.every((m) => amr.includes(m))) return 'amr lacks a required method';
  }
  if (config.max_age !== undefined) {
    const authTime = claims['auth_time'];
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return 'no auth_time';
    if (authTime > now + AUTH_TIME_SKEW_SECONDS) return 'auth_time in the future';
    // An authentication is never newer than the token it is in, nor than now: a future auth_time (skew, or a
    // careless issuer) must not keep a token "fresh" for max_age as the clock catches up.
    const iat = claims['iat'];
    const authenticatedAt = Math.min(authTime, typeof iat === 'number' && Number.isFinite(iat) ? iat : authTime, now);
    if (now - authenticatedAt > config.max_age) return 'authentication older than max_age';
  }
  return undefined;
}

/** The RFC 9470 §3 challenge: what the client must go and obtain from its authorization server. */
function challengeOf(config: StepUpConfig): string {
  const parts = [`${BEARER_CHALLENGE}, error="insufficient_user_authentication"`, 'error_description="A different authentication level is required"'];
  if (config.acr) parts.push(`acr_values="${config.acr.join(' ')}"`);
  if (config.max_age !== undefined) parts.push(`max_age="${config.max_age}"`);
  return parts.join(', ');
}

/** An operation's step-up requirement as `rampart check` prints it, or undefined without one. */
export function stepUpReport(api: ApiConfig, operationId: string, raw: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const config = (api.operations[operationId]?.step_up ?? raw?.['x-rampart-auth']) as StepUpConfig | undefined;
  if (config === undefined) return undefined;
  const parts = [];
  if (config.acr) parts.push(`acr ${config.acr.join('|')}`);
  if (config.amr) parts.push(`amr ${config.amr.join('+')}`);
  if (config.max_age !== undefined) parts.push(`max_age ${config.max_age}s`);
  return `step-up ${parts.join(', ')}`;
}
