import { ConfigIssueError } from '../../config/errors.ts';
import { createPublicKey } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { JwtConfig, JwtIssuerConfig } from '../../config/types.ts';
import type { Identity } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { invalidToken, looksLikeJwt } from '../authn/bearer.ts';
import { isAllowedIdpUrl, type FetchLike } from '../authn/http.ts';
import { claimPath, readClaim, stringClaim, stringList, type ClaimPath } from './claims.ts';
import { KeySourceUnavailable, RemoteJwks } from './jwks.ts';
import type { TokenRevocations } from './revocations.ts';
import { VerifiedTokenCache } from './verified-cache.ts';
import { DEFAULT_REQUIRED_CLAIMS, HMAC_ALGORITHMS, HMAC_MIN_BYTES } from './schema.ts';

/** Header parameters that point at or carry keys, or change processing: never followed, always rejected. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit', 'b64'] as const;

export interface JwtVerifierOptions {
  /** Config path of the `jwt` block, for error messages (e.g. `apis[0].auth.jwt`). */
  readonly at: string;
  /** Clock in ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly fetch?: FetchLike;
  readonly revocations?: TokenRevocations;
  /** Returns the shared RemoteJwks for a cache key, creating it with `create` on first use. */
  readonly jwksCache?: (key: string, create: () => RemoteJwks) => RemoteJwks;
  readonly onStale?: (message: string) => void;
  /** Receives each configuration warning (a weak HMAC secret), with its config path. */
  readonly warn?: (path: string, message: string) => void;
  /** Most tokens remembered as verified (default 10 000); 0 turns the verified-token cache off. */
  readonly verifiedCacheEntries?: number;
}

interface CompiledIssuer {
  readonly config: JwtIssuerConfig;
  readonly key: JWTVerifyGetKey | Uint8Array;
  readonly audience: string[] | undefined;
  readonly required: ReadonlySet<string>;
  /** The claims jose checks for presence (`require` less those checked here). */
  readonly requiredClaims: string[];
  readonly scope: ClaimPath;
  readonly roles: ClaimPath;
  readonly tenant: ClaimPath;
  readonly consumer: ClaimPath;
}

/**
 * Verifies bearer JWTs against the configured issuers, hardened per RFC 8725: algorithm allowlist bound to the
 * key type, the required claims (`require`: by default `iss`/`aud`/`exp`/`iat`/`sub`; `exp` and `sub` always),
 * `nbf`/`iat`/`exp` with bounded skew, a maximum lifetime,
 * optional `typ`, `crit`/`jku`/`x5u`/`jwk`/`x5c` rejected. Construction validates the config and throws an Error
 * naming the config path; `verify` does no setup.
 */
export class JwtVerifier {
  readonly #issuers = new Map<string, CompiledIssuer>();
  readonly #single: CompiledIssuer | undefined;
  /** The one issuer whose tokens may omit `iss` (at most one may, or a token without `iss` would be ambiguous). */
  readonly #withoutIss: CompiledIssuer | undefined;
  readonly #now: () => number;
  readonly #revocations: TokenRevocations | undefined;
  readonly #cache: VerifiedTokenCache | undefined;

  constructor(config: JwtConfig, options: JwtVerifierOptions) {
    this.#now = options.now ?? Date.now;
    this.#revocations = options.revocations;
    if (options.verifiedCacheEntries !== 0) {
      this.#cache = new VerifiedTokenCache({ now: this.#now, ...(options.verifiedCacheEntries ? { maxEntries: options.verifiedCacheEntries } : {}) });
      options.revocations?.onRevoke?.(this.#cache);
    }
    config.issuers.forEach((issuer, i) => {
      const at = `${options.at}.issuers[${i}]`;
      if (this.#issuers.has(issuer.issuer)) throw new ConfigIssueError(`${at}.issuer`, `issuer "${issuer.issuer}" is listed twice`);
      this.#issuers.set(issuer.issuer, compileIssuer(issuer, at, options));
    });
    this.#single = this.#issuers.size === 1 ? [...this.#issuers.values()][0] : undefined;
    const optionalIss = [...this.#issuers.values()].filter((i) => !i.required.has('iss'));
    if (optionalIss.length > 1) {
      throw new ConfigIssueError(`${options.at}.issuers`, 'at most one issuer may leave iss out of require (a token without iss must name its issuer unambiguously)');
    }
    this.#withoutIss = optionalIss[0];
  }

  /**
   * Verifies a compact JWT and returns the caller's Identity. Throws a 401 GatewayError (`invalid_token`) for any
   * invalid, revoked or unacceptable token, and a 503 (`service_unavailable`) when the issuer's keys cannot be
   * obtained. Never returns for a token it could not check.
   *
   * A token that passed full verification is remembered in a bounded cache keyed by its SHA-256 (see
   * verified-cache.ts: never past `exp`, at most 60 s, re-checked against revocations on every hit), so the same
   * token's next request skips the ES256/RS256 signature check, the largest per-request cost of a JWT route.
   */
  verify(token: string): Promise<Identity> {
    const cache = this.#cache;
    if (cache === undefined) return this.#verifyFully(token).then((verified) => verified.identity);
    let hit: Identity | undefined;
    try {
      hit = cache.get(token, this.#revocations);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (hit !== undefined) return Promise.resolve(hit);
    return this.#verifyFully(token).then(({ identity, issuer }) => {
      cache.set(token, identity, issuer);
      return identity;
    });
  }

  async #verifyFully(token: string): Promise<{ identity: Identity; issuer: string }> {
    if (!looksLikeJwt(token)) throw invalidToken('bearer token is not a compact JWS');
    let issuer = this.#single;
    try {
      const header = decodeProtectedHeader(token);
      for (const name of FORBIDDEN_HEADERS) if (name in header) throw invalidToken(`JWT header "${name}" is not accepted`);
      if (typeof header.alg !== 'string' || header.alg === 'none') throw invalidToken('JWT alg missing or none');
      if (!issuer) {
        const iss = decodeJwt(token).iss;
        issuer = typeof iss === 'string' ? this.#issuers.get(iss) : iss === undefined ? this.#withoutIss : undefined;
        if (!issuer) throw invalidToken('JWT from an unknown issuer');
      }
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw invalidToken('JWT cannot be decoded', error);
    }
    const cfg = issuer.config;
    let payload: JWTPayload;
    try {
      // `iss`, `aud` and the lifetime are checked below when they are optional: jose would require them.
      const verifyOptions = {
        algorithms: [...cfg.algorithms],
        ...(issuer.required.has('iss') ? { issuer: cfg.issuer } : {}),
        ...(issuer.required.has('aud') ? { audience: issuer.audience! } : {}),
        clockTolerance: cfg.clock_skew_seconds,
        ...(issuer.required.has('iat') ? { maxTokenAge: cfg.max_token_age_seconds } : {}),
        requiredClaims: issuer.requiredClaims,
        currentDate: new Date(this.#now()),
        ...(cfg.required_typ ? { typ: cfg.required_typ } : {}),
      };
      const result = issuer.key instanceof Uint8Array
        ? await jwtVerify(token, issuer.key, verifyOptions)
        : await jwtVerify(token, issuer.key, verifyOptions);
      payload = result.payload;
    } catch (error) {
      if (error instanceof KeySourceUnavailable) throw new GatewayError('service_unavailable', `JWT keys unavailable: ${error.message}`, { cause: error });
      if (error instanceof errors.JOSEError) throw invalidToken(`JWT rejected: ${error.code}`, error);
      throw error;
    }
    const exp = payload.exp!;
    const iat = checkOptionalClaims(payload, issuer, Math.floor(this.#now() / 1000));
    if (exp - iat > cfg.max_token_age_seconds) throw invalidToken(`JWT lifetime ${exp - iat}s over the maximum ${cfg.max_token_age_seconds}s`);
    const subject = stringClaim(payload.sub);
    if (!subject) throw invalidToken('JWT sub is not a string');
    const tokenId = stringClaim(payload.jti);
    // Without `iat`, the token may have been issued as early as its lifetime allows: a revocation of "every token
    // before T" must cover it (taking "now" would let it outlive any revocation).
    const issuedAt = payload.iat ?? exp - cfg.max_token_age_seconds;
    if (this.#revocations?.isRevoked({ issuer: cfg.issuer, subject, issuedAt, ...(tokenId ? { tokenId } : {}) })) {
      throw invalidToken('JWT revoked');
    }
    const scopes = stringList(readClaim(payload, issuer.scope));
    const consumer = stringClaim(readClaim(payload, issuer.consumer)) ?? stringClaim(payload['azp']);
    const tenant = stringClaim(readClaim(payload, issuer.tenant));
    const identity: Identity = Object.freeze({
      subject,
      ...(consumer ? { consumer } : {}),
      ...(tenant ? { tenant } : {}),
      roles: Object.freeze(stringList(readClaim(payload, issuer.roles))),
      scopes: Object.freeze(scopes.length > 0 ? scopes : stringList(payload['scp'])),
      claims: Object.freeze(payload),
      method: 'jwt',
      issuer: cfg.issuer,
    });
    return { identity, issuer: cfg.issuer };
  }
}

/**
 * The checks jose leaves out when `iss`, `aud` or `iat` are optional for the issuer: a present `iss` must still be
 * the issuer's, a present `aud` one of the configured audiences, a present `iat` a number not in the future (jose
 * checks only its type then). Returns the `iat` the lifetime is measured from: the token's, or now when it has none
 * (so `exp` can be at most `max_token_age_seconds` ahead).
 */
function checkOptionalClaims(payload: JWTPayload, issuer: CompiledIssuer, nowSeconds: number): number {
  if (payload.iss !== undefined && payload.iss !== issuer.config.issuer) throw invalidToken('JWT iss does not match its issuer');
  const audience = issuer.audience;
  const aud: unknown = payload.aud;
  if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) throw invalidToken('JWT aud is neither a string nor an array of strings');
  if (audience !== undefined && aud !== undefined && !issuer.required.has('aud')) {
    const named = typeof aud === 'string' ? [aud] : (aud as string[]);
    if (!named.some((a) => audience.includes(a))) throw invalidToken('JWT aud names none of the accepted audiences');
  }
  if (payload.iat === undefined) return nowSeconds;
  if (payload.iat > nowSeconds + issuer.config.clock_skew_seconds) throw invalidToken('JWT iat is in the future');
  return payload.iat;
}

/** An HMAC secret as bytes: `base64:`, `base64url:` or `hex:` prefixed values decoded, anything else UTF-8. */
export function secretBytes(value: string, at: string): Uint8Array {
  const colon = value.indexOf(':');
  const prefix = colon > 0 ? value.slice(0, colon).toLowerCase() : '';
  const body = value.slice(colon + 1).trim();
  if (prefix === 'hex') {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(body)) throw new ConfigIssueError(at, 'hex: secret is not an even number of hex digits');
    return Buffer.from(body, 'hex');
  }
  if (prefix === 'base64' || prefix === 'base64url') {
    const alphabet = prefix === 'base64' ? /^[A-Za-z0-9+/]+={0,2}$/ : /^[A-Za-z0-9_-]+={0,2}$/;
    const bytes = alphabet.test(body) ? Buffer.from(body, prefix) : undefined;
    // Node drops characters that do not make a whole byte: only an encoding that round-trips is the secret meant.
    if (bytes === undefined || bytes.toString(prefix).replace(/=+$/, '') !== body.replace(/=+$/, '')) throw new ConfigIssueError(at, `${prefix}: secret is not valid ${prefix}`);
    return bytes;
  }
  return new TextEncoder().encode(value);
}

function compileIssuer(cfg: JwtIssuerConfig, at: string, options: JwtVerifierOptions): CompiledIssuer {
  const required = new Set<string>(cfg.require ?? DEFAULT_REQUIRED_CLAIMS);
  if (!required.has('exp') || !required.has('sub')) throw new ConfigIssueError(`${at}.require`, 'must include exp and sub');
  if (required.has('aud') && cfg.audience === undefined) {
    throw new ConfigIssueError(`${at}.audience`, 'is required while require lists aud (set the accepted audience, or leave aud out of require for an issuer that sets none)');
  }
  if (!required.has('aud') && cfg.secret === undefined) {
    options.warn?.(`${at}.require`, 'aud is not required from an issuer with public keys: tokens it issued for any of its clients are accepted; require aud and set audience unless this API is the issuer\'s only audience');
  }
  const sources = (['discovery_url', 'jwks_url', 'keys', 'secret'] as const).filter((k) => cfg[k] !== undefined);
  if (sources.length !== 1) {
    throw new ConfigIssueError(at, `set exactly one of discovery_url, jwks_url, keys or secret (found ${sources.length === 0 ? 'none' : sources.join(', ')})`);
  }
  const hmac = cfg.algorithms.filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
  let key: JWTVerifyGetKey | Uint8Array;
  if (cfg.secret !== undefined) {
    if (hmac.length !== cfg.algorithms.length) throw new ConfigIssueError(`${at}.algorithms`, 'with a secret only HS256/HS384/HS512 are allowed (never asymmetric algorithms alongside)');
    const bytes = secretBytes(cfg.secret, `${at}.secret`);
    if (bytes.length === 0) throw new ConfigIssueError(`${at}.secret`, 'is empty');
    for (const alg of hmac) {
      const needed = HMAC_MIN_BYTES[alg]!;
      if (bytes.length >= needed) continue;
      const message = `${alg} secret is ${bytes.length * 8} bits, under the ${needed * 8} bits it needs: anyone who guesses it can forge tokens`;
      if (!cfg.allow_weak_secret) throw new ConfigIssueError(`${at}.secret`, `${message} (use a longer random secret, e.g. \`base64:\` of 32 random bytes; or set allow_weak_secret: true for an app key you cannot change yet, and mint upstream credentials)`);
      options.warn?.(`${at}.secret`, `${message}; accepted because allow_weak_secret is true (see docs/app-tokens.md)`);
    }
    key = bytes;
  } else {
    if (hmac.length > 0) throw new ConfigIssueError(`${at}.algorithms`, `${hmac.join(', ')} need a secret; HMAC algorithms are never accepted with public keys (key confusion)`);
    if (cfg.keys) key = staticKeys(cfg.keys, at);
    else {
      const url = cfg.discovery_url ?? cfg.jwks_url!;
      const field = cfg.discovery_url ? 'discovery_url' : 'jwks_url';
      if (!isAllowedIdpUrl(url)) throw new ConfigIssueError(`${at}.${field}`, 'must be an https:// URL (plain http only to a loopback host), without credentials');
      const create = () =>
        new RemoteJwks({
          issuer: cfg.issuer,
          ...(cfg.discovery_url ? { discoveryUrl: cfg.discovery_url } : { jwksUrl: cfg.jwks_url! }),
          maxAgeMs: cfg.jwks_cache_max_age_seconds * 1000,
          cooldownMs: cfg.jwks_cooldown_seconds * 1000,
          timeoutMs: cfg.fetch_timeout_ms,
          ...(options.now ? { now: options.now } : {}),
          ...(options.fetch ? { fetch: options.fetch } : {}),
          ...(options.onStale ? { onStale: options.onStale } : {}),
        });
      const cacheKey = JSON.stringify([cfg.issuer, url, cfg.jwks_cache_max_age_seconds, cfg.jwks_cooldown_seconds, cfg.fetch_timeout_ms]);
      key = (options.jwksCache ? options.jwksCache(cacheKey, create) : create()).getKey;
    }
  }
  return {
    config: cfg,
    key,
    audience: cfg.audience === undefined ? undefined : typeof cfg.audience === 'string' ? [cfg.audience] : [...cfg.audience],
    required,
    requiredClaims: [...required].filter((c) => c !== 'iss' && c !== 'aud'),
    scope: claimPath(cfg.scope_claim),
    roles: claimPath(cfg.roles_claim),
    tenant: claimPath(cfg.tenant_claim),
    consumer: claimPath(cfg.consumer_claim),
  };
}

/** Static keys (JWK objects or SPKI PEM) as a local key set. Keys without `kid` match tokens with any `kid`. */
function staticKeys(keys: NonNullable<JwtIssuerConfig['keys']>, at: string): JWTVerifyGetKey {
  const jwks = keys.map((entry, i) => {
    if (typeof entry === 'string') {
      if (/PRIVATE KEY/.test(entry)) throw new ConfigIssueError(`${at}.keys[${i}]`, 'is a private key; configure the public key only');
      try {
        return createPublicKey(entry).export({ format: 'jwk' }) as Record<string, unknown>;
      } catch (error) {
        throw new ConfigIssueError(`${at}.keys[${i}]`, `not a PEM public key (${(error as Error).message})`, undefined, { cause: error });
      }
    }
    if ('d' in entry || entry['kty'] === 'oct') throw new ConfigIssueError(`${at}.keys[${i}]`, 'must be a public asymmetric JWK (no private or symmetric keys)');
    return { ...entry };
  });
  let local: JWTVerifyGetKey;
  try {
    local = createLocalJWKSet({ keys: jwks as never });
  } catch (error) {
    throw new ConfigIssueError(`${at}.keys`, `not a valid key set (${(error as Error).message})`, undefined, { cause: error });
  }
  const kidless = jwks.some((k) => k['kid'] === undefined);
  if (!kidless) return local;
  return async (header, token) => {
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || header.kid === undefined) throw error;
      return local({ alg: header.alg }, undefined as never);
    }
  };
}
