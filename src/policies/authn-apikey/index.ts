import type { IncomingHttpHeaders } from 'node:http';
import type { ApiKeyVerification, Identity, RequestContext } from '../../pipeline/types.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { GatewayError } from '../../problem.ts';
import type { Authenticator, AuthenticatorFactory } from '../authn/types.ts';
import type { ApiKeyRecord, Consumer } from '../../store/types.ts';
import { MAX_KEY_LENGTH } from './format.ts';
import type { ApiKeyAuthConfig } from './schema.ts';
import type { SpecOperation } from '../../openapi/load.ts';

export { ApiKeyVerifier } from './verifier.ts';
export { KeyHasher } from './hash.ts';
export { generateApiKey, parseApiKey } from './format.ts';

const CHALLENGE = { 'www-authenticate': 'ApiKey realm="rampart"' };
const AUTH_SCHEME = /^ApiKey[ \t]+(\S+)[ \t]*$/i;

/** A header a key is read from: `authorization` (the `ApiKey` scheme) or any other header carrying the raw key. */
type Source = string;

/** The Identity an API key stands for: the consumer (subject, tenant, roles) with the key's scopes. */
export function identityForKey(key: ApiKeyRecord, consumer: Consumer): Identity {
  return Object.freeze({
    subject: consumer.id,
    consumer: consumer.id,
    ...(consumer.tenant !== null ? { tenant: consumer.tenant } : {}),
    roles: Object.freeze([...consumer.roles]),
    scopes: Object.freeze([...key.scopes]),
    claims: Object.freeze({ plan: key.plan ?? consumer.plan, groups: consumer.groups, name: consumer.name }),
    method: 'api_key',
    keyId: key.id,
  });
}

/**
 * Reads the presented key from the allowed headers. Returns undefined when none carries one; throws
 * `invalid_token` when the headers disagree or repeat (ambiguous credentials are never guessed at).
 */
function presentedKey(headers: IncomingHttpHeaders, sources: readonly Source[]): string | undefined {
  let found: string | undefined;
  for (const source of sources) {
    let value: string | undefined;
    if (source !== 'authorization') {
      const raw = headers[source];
      if (raw === undefined) continue;
      if (typeof raw !== 'string') throw new GatewayError('invalid_token', `repeated ${source} header`, { headers: CHALLENGE });
      value = raw.trim();
    } else {
      const raw = headers.authorization;
      if (raw === undefined) continue;
      const match = AUTH_SCHEME.exec(raw);
      if (!match) continue; // another scheme (Bearer…) is some other authenticator's
      value = match[1];
    }
    if (found !== undefined && found !== value) throw new GatewayError('invalid_token', 'different API keys in two headers', { headers: CHALLENGE });
    found = value;
  }
  return found;
}

/**
 * Builds the API key authenticator over the shared verifier. Per request: read the key from the configured headers
 * (never the query string), reject oversized values before any work, verify (checksum → cached lookup →
 * constant-time HMAC → state). A present but invalid key is a 401 `invalid_token`; a store failure is a 503
 * (fail closed). An accepted key's header is removed so the upstream never receives the credential. The reason and key id (never the key) go to the log through the error detail.
 */
export function createApiKeyAuthenticator(verifier: ApiKeyVerification, config: ApiKeyAuthConfig, specHeaders: readonly string[] = []): Authenticator {
  const configured: readonly Source[] = typeof config === 'object' && config.headers ? [...config.headers] : ['x-api-key', 'authorization'];
  const sources: readonly Source[] = [...new Set([...configured, ...specHeaders])];
  const rawHeaders = sources.filter((s) => s !== 'authorization');
  return {
    method: 'api_key',
    kind: 'apiKey',
    async authenticate(ctx: RequestContext): Promise<Identity | undefined> {
      const presented = presentedKey(ctx.headers, sources);
      if (presented === undefined) return undefined;
      if (presented.length > MAX_KEY_LENGTH * 2) throw new GatewayError('invalid_token', 'api key rejected: oversized', { headers: CHALLENGE });
      let result;
      try {
        result = await verifier.verify(presented);
      } catch (error) {
        throw new GatewayError('service_unavailable', 'api key store unavailable', { cause: error });
      }
      if (!result.ok) {
        ctx.notes.authFailure = { method: 'api_key', reason: result.reason, ...(result.keyId ? { keyId: result.keyId } : {}) };
        throw new GatewayError('invalid_token', `api key rejected: ${result.reason}${result.keyId ? ` (key ${result.keyId})` : ''}`, { headers: CHALLENGE });
      }
      // The upstream gets the identity (signed assertion), never the credential itself.
      const headers = ctx.req.headers as Record<string, unknown>;
      for (const name of rawHeaders) delete headers[name];
      if (typeof headers['authorization'] === 'string' && AUTH_SCHEME.test(headers['authorization'])) delete headers['authorization'];
      return identityForKey(result.key, result.consumer);
    },
  };
}

/**
 * The headers the operation's OpenAPI `apiKey` schemes name (`in: header, name: X-Token`), read besides
 * `auth.api_keys.headers`. A scheme with the key in the query or a cookie is refused: a key in a URL ends up in
 * access logs, caches and Referer headers, and Rampart never reads one from there.
 */
function specKeyHeaders(operation: SpecOperation | undefined, operationId: string, at: string): string[] {
  if (!operation) return [];
  const headers: string[] = [];
  for (const requirement of operation.security ?? []) {
    for (const name of Object.keys(requirement)) {
      const scheme = operation.securitySchemes[name];
      if (scheme?.type !== 'apiKey') continue;
      if (scheme.in !== 'header') {
        throw new ConfigIssueError(at, `operation "${operationId}" uses apiKey scheme "${name}" with the key in the ${scheme.in}; Rampart reads API keys from headers only`, 'declare the scheme with in: header (a key in a URL ends up in logs, caches and Referer headers)');
      }
      headers.push(scheme.name.toLowerCase());
    }
  }
  return headers;
}

/**
 * The factory registered with the authenticate stage: active for APIs with `auth.api_keys` set (true or an object).
 * @throws ConfigIssueError naming the config path when keys are configured but the gateway has no key verifier.
 */
export const apiKeyAuthenticatorFactory: AuthenticatorFactory = {
  name: 'api_key',
  kind: 'apiKey',
  create(input) {
    const config = (input.auth as { api_keys?: ApiKeyAuthConfig }).api_keys;
    if (config === undefined || config === false) return undefined;
    const verifier = input.services.apiKeys;
    if (!verifier) throw new ConfigIssueError(`apis[${input.apiIndex}].auth.api_keys`, 'API keys need the store; it was not started');
    return createApiKeyAuthenticator(verifier, config, specKeyHeaders(input.operation, input.operationId, `apis[${input.apiIndex}].spec`));
  },
};
