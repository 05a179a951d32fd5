import { ConfigIssueError } from '../../config/errors.ts';
import { createHash } from 'node:crypto';
import type { IntrospectionConfig } from '../../config/types.ts';
import type { Identity } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { invalidToken } from '../authn/bearer.ts';
import { fetchJson, isAllowedIdpUrl, type FetchLike } from '../authn/http.ts';
import { stringClaim, stringList } from '../authn-jwt/claims.ts';
import { ExpiringLru } from './cache.ts';

export interface IntrospectorOptions {
  /** Config path of the `introspection` block, for error messages. */
  readonly at: string;
  /** Clock in ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly fetch?: FetchLike;
}

type CacheEntry = { readonly active: true; readonly identity: Identity } | { readonly active: false };

/**
 * Checks opaque tokens with an RFC 7662 introspection endpoint (client authentication: HTTP Basic). Results are
 * cached by SHA-256 of the token (never the token itself) in a bounded LRU: active results for
 * `cache_ttl_seconds` but never past the token's `exp`, inactive ones for `negative_cache_seconds`. Concurrent
 * lookups of one token share one call. Fail closed: an unreachable or misbehaving endpoint denies (503).
 */
export class Introspector {
  readonly #config: IntrospectionConfig;
  readonly #now: () => number;
  readonly #fetch: FetchLike | undefined;
  readonly #cache: ExpiringLru<CacheEntry>;
  readonly #inFlight = new Map<string, Promise<CacheEntry>>();
  readonly #authorization: string;
  readonly #audience: readonly string[] | undefined;

  constructor(config: IntrospectionConfig, options: IntrospectorOptions) {
    if (!isAllowedIdpUrl(config.endpoint)) throw new ConfigIssueError(`${options.at}.endpoint`, 'must be an https:// URL (plain http only to a loopback host), without credentials');
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch;
    this.#cache = new ExpiringLru(config.cache_max_entries, this.#now);
    // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
    const basic = `${encodeURIComponent(config.client_id)}:${encodeURIComponent(config.client_secret)}`;
    this.#authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    this.#audience = config.audience === undefined ? undefined : typeof config.audience === 'string' ? [config.audience] : config.audience;
  }

  /**
   * Returns the Identity of an active token. Throws a 401 GatewayError for an inactive, expired or unacceptable
   * token and a 503 when the endpoint cannot give an answer.
   */
  async introspect(token: string): Promise<Identity> {
    const key = createHash('sha256').update(token).digest('base64url');
    let entry = this.#cache.get(key);
    if (!entry) {
      let pending = this.#inFlight.get(key);
      if (!pending) {
        pending = this.#lookup(token, key).finally(() => this.#inFlight.delete(key));
        this.#inFlight.set(key, pending);
      }
      entry = await pending;
    }
    if (!entry.active) throw invalidToken('introspection: token not active');
    return entry.identity;
  }

  async #lookup(token: string, key: string): Promise<CacheEntry> {
    let answer: Record<string, unknown>;
    try {
      answer = await fetchJson(this.#config.endpoint, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        timeoutMs: this.#config.timeout_ms,
        ...(this.#fetch ? { fetch: this.#fetch } : {}),
      });
    } catch (error) {
      throw new GatewayError('service_unavailable', `introspection failed: ${(error as Error).message}`, { cause: error });
    }
    const now = this.#now();
    const entry = this.#evaluate(answer, now / 1000);
    if (entry.active) {
      const exp = answer['exp'];
      const until = Math.min(now + this.#config.cache_ttl_seconds * 1000, typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY);
      this.#cache.set(key, entry, until);
    } else {
      this.#cache.set(key, entry, now + this.#config.negative_cache_seconds * 1000);
    }
    return entry;
  }

  #evaluate(answer: Record<string, unknown>, nowSeconds: number): CacheEntry {
    if (answer['active'] !== true) return { active: false };
    const skew = this.#config.clock_skew_seconds;
    const exp = answer['exp'];
    const nbf = answer['nbf'];
    if (exp !== undefined && (typeof exp !== 'number' || exp + skew <= nowSeconds)) return { active: false };
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf - skew > nowSeconds)) return { active: false };
    if (answer['token_type'] !== undefined && String(answer['token_type']).toLowerCase() === 'refresh_token') return { active: false };
    if (this.#config.issuer !== undefined && answer['iss'] !== this.#config.issuer) return { active: false };
    if (this.#audience) {
      const aud = stringList(answer['aud']);
      if (!aud.some((a) => this.#audience!.includes(a))) return { active: false };
    }
    const consumer = stringClaim(answer['client_id']);
    const subject = stringClaim(answer['sub']) ?? stringClaim(answer['username']) ?? consumer;
    if (!subject) return { active: false };
    const tenant = stringClaim(answer['tenant']);
    return {
      active: true,
      identity: Object.freeze({
        subject,
        ...(consumer ? { consumer } : {}),
        ...(tenant ? { tenant } : {}),
        roles: Object.freeze(stringList(answer['roles'])),
        scopes: Object.freeze(stringList(answer['scope'])),
        claims: Object.freeze({ ...answer }),
        method: 'introspection',
        issuer: this.#config.issuer ?? this.#config.endpoint,
      }),
    };
  }
}
