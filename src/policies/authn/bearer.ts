import { GatewayError } from '../../problem.ts';
import type { RequestContext } from '../../pipeline/types.ts';

/** The RFC 6750 challenge for a request without credentials. */
export const BEARER_CHALLENGE = 'Bearer realm="rampart"';
const INVALID_TOKEN = { 'www-authenticate': `${BEARER_CHALLENGE}, error="invalid_token"` };
const INVALID_REQUEST = { 'www-authenticate': `${BEARER_CHALLENGE}, error="invalid_request"` };

/** RFC 6750 §2.1 b64token after the `Bearer` scheme. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const BEARER_SCHEME = /^bearer(?: |$)/i;

/** Where a route takes bearer tokens from, and how long one may be. */
export interface BearerOptions {
  /** `header` is `Authorization: Bearer`; `query` is `access_token` (RFC 6750 §2.3), refused unless listed. */
  readonly sources: readonly ('header' | 'query')[];
  /** Longest token, in bytes; longer ones are rejected before any parsing. */
  readonly maxBytes: number;
}

/** A 401 with `error="invalid_token"`; `detail` goes to the log only. */
export function invalidToken(detail: string, cause?: unknown): GatewayError {
  return new GatewayError('invalid_token', detail, { headers: INVALID_TOKEN, cause });
}

/**
 * Returns the bearer token of a request, or undefined when it carries none. Throws a 401 GatewayError when a token
 * is present but unusable: malformed header, over `maxBytes`, sent in the query string when the route does not allow
 * it, or sent twice (header and query).
 */
export function extractBearer(ctx: RequestContext, options: BearerOptions): string | undefined {
  const header = ctx.headers.authorization;
  let token: string | undefined;
  if (header !== undefined && BEARER_SCHEME.test(header)) {
    if (header.length > options.maxBytes + 16) throw invalidToken(`bearer token over ${options.maxBytes} bytes`);
    if (!options.sources.includes('header')) {
      throw new GatewayError('invalid_token', 'Authorization: Bearer is not a token source on this route', { headers: INVALID_REQUEST });
    }
    const match = BEARER.exec(header);
    if (!match) throw new GatewayError('invalid_token', 'malformed Authorization: Bearer header', { headers: INVALID_REQUEST });
    token = match[1]!;
    if (token.length > options.maxBytes) throw invalidToken(`bearer token over ${options.maxBytes} bytes`);
  }
  if (ctx.rawQuery !== '' && ctx.rawQuery.includes('access_token')) {
    const fromQuery = ctx.query.get('access_token');
    if (fromQuery !== null) {
      if (!options.sources.includes('query')) {
        throw new GatewayError('invalid_token', 'access_token in the query string is not allowed on this route', { headers: INVALID_REQUEST });
      }
      if (token !== undefined) throw new GatewayError('invalid_token', 'bearer token sent twice (header and query)', { headers: INVALID_REQUEST });
      if (fromQuery.length > options.maxBytes) throw invalidToken(`bearer token over ${options.maxBytes} bytes`);
      if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(fromQuery)) throw invalidToken('malformed access_token query parameter');
      token = fromQuery;
      // The credential is consumed here: it must not reach the upstream (its access logs) or count as an undeclared parameter.
      ctx.removeQueryParam('access_token');
    }
  }
  return token;
}

/** Whether a token has the compact JWS shape (three base64url parts); says nothing about validity. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
