import { createLocalJWKSet, errors, type CompactJWSHeaderParameters, type FlattenedJWSInput, type JWTVerifyGetKey } from 'jose';
import { fetchJson, IdpFetchError, isAllowedIdpUrl, type FetchLike } from '../authn/http.ts';

type KeyResult = Awaited<ReturnType<JWTVerifyGetKey>>;

/** Raised when no key material can be obtained (IdP unreachable and nothing cached): the request is denied 503. */
export class KeySourceUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySourceUnavailable';
  }
}

export interface RemoteJwksOptions {
  /** The issuer; a discovery document must name exactly this `issuer`. */
  readonly issuer: string;
  /** OIDC discovery URL; used to find `jwks_uri` when `jwksUrl` is not given. */
  readonly discoveryUrl?: string;
  readonly jwksUrl?: string;
  /** How long a fetched key set is used before a refetch, in ms. */
  readonly maxAgeMs: number;
  /** Least time between two fetch attempts (successful or not), in ms. */
  readonly cooldownMs: number;
  /** Timeout per fetch, in ms. */
  readonly timeoutMs: number;
  /** Clock in ms since the epoch (default Date.now). */
  readonly now?: () => number;
  readonly fetch?: FetchLike;
  /** Called with a message when a refresh fails but cached keys keep serving. */
  readonly onStale?: (message: string) => void;
}

/**
 * A cached remote JWK Set built on jose's `createLocalJWKSet`. Keys are fetched on first use and again after
 * `maxAgeMs`; a token whose `kid` is unknown triggers a refetch only when `cooldownMs` has passed since the last
 * attempt, so a burst of random `kid`s costs at most one fetch per cooldown. A failed refresh keeps the previous keys
 * serving; with no keys at all, lookups throw KeySourceUnavailable. Concurrent refreshes are coalesced.
 */
export class RemoteJwks {
  readonly #options: RemoteJwksOptions;
  readonly #now: () => number;
  #jwksUrl: string | undefined;
  #local: JWTVerifyGetKey | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;
  #lastError: Error | undefined;

  constructor(options: RemoteJwksOptions) {
    if (!options.discoveryUrl && !options.jwksUrl) throw new Error('a discovery URL or a JWKS URL is required');
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#jwksUrl = options.jwksUrl;
  }

  /** The key-lookup function for jose's jwtVerify. */
  readonly getKey = async (header: CompactJWSHeaderParameters, token: FlattenedJWSInput): Promise<KeyResult> => {
    const now = this.#now();
    if (now - this.#fetchedAt >= this.#options.maxAgeMs && now - this.#lastAttempt >= this.#options.cooldownMs) await this.#refresh(now);
    else if (this.#pending && !this.#local) await this.#pending;
    if (!this.#local) throw new KeySourceUnavailable(`no keys for issuer ${this.#options.issuer}`, { cause: this.#lastError });
    try {
      return await this.#local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || now - this.#lastAttempt < this.#options.cooldownMs) throw error;
      await this.#refresh(now);
      return await this.#local(header, token);
    }
  };

  #refresh(now: number): Promise<void> {
    if (this.#pending) return this.#pending;
    this.#lastAttempt = now;
    this.#pending = this.#load()
      .then((jwks) => {
        this.#local = createLocalJWKSet(jwks);
        this.#fetchedAt = this.#now();
        this.#lastError = undefined;
      })
      .catch((error: unknown) => {
        this.#lastError = error as Error;
        if (this.#options.discoveryUrl) this.#jwksUrl = this.#options.jwksUrl;
        if (this.#local) this.#options.onStale?.(`JWKS refresh for ${this.#options.issuer} failed; using cached keys: ${(error as Error).message}`);
      })
      .finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #load(): Promise<{ keys: Record<string, unknown>[] }> {
    const timeoutMs = this.#options.timeoutMs;
    if (!this.#jwksUrl) {
      const discovery = await fetchJson(this.#options.discoveryUrl!, { timeoutMs, fetch: this.#options.fetch });
      if (discovery['issuer'] !== this.#options.issuer) throw new IdpFetchError('discovery document names a different issuer');
      const jwksUri = discovery['jwks_uri'];
      if (typeof jwksUri !== 'string' || !isAllowedIdpUrl(jwksUri)) throw new IdpFetchError('discovery document has no usable jwks_uri (HTTPS required)');
      this.#jwksUrl = jwksUri;
    }
    const jwks = await fetchJson(this.#jwksUrl, { timeoutMs, fetch: this.#options.fetch });
    const keys = jwks['keys'];
    if (!Array.isArray(keys)) throw new IdpFetchError('JWKS has no keys array');
    // Only public signature keys: private members or encryption keys in a JWKS are a misconfiguration, never used.
    const usable = keys.filter(
      (k): k is Record<string, unknown> =>
        k !== null && typeof k === 'object' && !('d' in k) && !('k' in k) && (k['use'] === undefined || k['use'] === 'sig'),
    );
    return { keys: usable };
  }
}
