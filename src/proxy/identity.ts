import { randomUUID, sign } from 'node:crypto';
import type { IdentityConfig } from '../config/types.ts';
import type { AdminServer } from '../admin/server.ts';
import { sendJson } from '../admin/server.ts';
import type { RequestContext } from '../pipeline/types.ts';
import { SigningKeyRing, type SigningKey } from './signing-key.ts';

/** `typ` header of identity assertions, so they cannot be confused with other JWTs. */
export const IDENTITY_TYP = 'rampart-identity+jwt';
/** Where the admin listener publishes the verification keys. */
export const IDENTITY_JWKS_PATH = '/.well-known/jwks.json';

/**
 * Signs the short-lived identity assertion Rampart sends upstream after authentication (zero trust: the upstream
 * verifies who called against the JWKS on the admin listener). Claims: `iss`, `sub`, `aud` (upstream name), `iat`,
 * `exp`, `jti`, `consumer`, `tenant`, `scope`, `roles`, `auth_method`, `key_id`, `request_id`.
 */
export class IdentityAsserter {
  readonly #ring: SigningKeyRing;
  readonly #now: () => number;

  constructor(ring: SigningKeyRing, now: () => number = Date.now) {
    this.#ring = ring;
    this.#now = now;
  }

  /**
   * Builds an asserter from the `identity` config: the configured key, or generated keys rotated every
   * `rotate_hours`.
   * @throws Error naming `identity.signing_key` when the key is unusable.
   */
  static async create(config: IdentityConfig, now: () => number = Date.now): Promise<IdentityAsserter> {
    return new IdentityAsserter(await SigningKeyRing.create(config.signing_key, config.rotate_hours * 3_600_000, now), now);
  }

  /**
   * The header to add upstream for an authenticated request, or undefined for an anonymous one (no signing) or
   * when disabled. `config` is the current table's `identity` block (header name and lifetime follow reloads).
   */
  async headersFor(ctx: RequestContext, upstreamName: string, config: IdentityConfig): Promise<Record<string, string> | undefined> {
    const identity = ctx.identity;
    if (identity === undefined || !config.enabled) return undefined;
    const key = await this.#ring.current();
    const iat = Math.floor(this.#now() / 1000);
    const claims: Record<string, unknown> = {
      scope: identity.scopes.join(' '),
      roles: identity.roles,
      auth_method: identity.method,
      request_id: ctx.id,
    };
    if (identity.consumer !== undefined) claims['consumer'] = identity.consumer;
    if (identity.tenant !== undefined) claims['tenant'] = identity.tenant;
    if (identity.keyId !== undefined) claims['key_id'] = identity.keyId;
    claims['iss'] = config.issuer;
    claims['sub'] = identity.subject;
    claims['aud'] = upstreamName;
    claims['iat'] = iat;
    claims['exp'] = iat + config.ttl_seconds;
    claims['jti'] = randomUUID();
    const token = signCompactJws(key, claims);
    return { [config.header]: token };
  }

  /** The public keys upstreams verify assertions with. */
  jwks(): { keys: Record<string, unknown>[] } {
    return this.#ring.jwks() as { keys: Record<string, unknown>[] };
  }
}

/**
 * JWS compact serialisation signed with `node:crypto` directly: jose's `SignJWT` goes through WebCrypto (a job
 * per signature, key import and copying), about three times the cost of `sign()` on the request path. The
 * encoding is the plain RFC 7515 one (base64url of the JSON header and payload); the tests verify the result
 * with jose's `jwtVerify`.
 */
function signCompactJws(key: SigningKey, payload: Readonly<Record<string, unknown>>): string {
  let header = encodedHeaders.get(key);
  if (header === undefined) {
    header = base64url(JSON.stringify({ alg: key.alg, kid: key.kid, typ: IDENTITY_TYP }));
    encodedHeaders.set(key, header);
  }
  const signingInput = `${header}.${base64url(JSON.stringify(payload))}`;
  const data = Buffer.from(signingInput);
  const signature = key.alg === 'ES256' ? sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, data, key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

const base64url = (text: string): string => Buffer.from(text).toString('base64url');

/** The encoded protected header of each key: it depends on the key only (rotated keys drop out with their object). */
const encodedHeaders = new WeakMap<SigningKey, string>();

/**
 * Publishes the asserter's JWKS on the admin listener at `/.well-known/jwks.json` (a public route: no admin
 * token) and hands the asserter to the request handler. Called once at start; the keys survive reloads.
 * `moreKeys` adds public JWKs read at each call (the upstream message-signing keys of the config in force), after
 * the asserter's; a `kid` already published is not repeated.
 */
export function installIdentity(target: { identity: IdentityAsserter | undefined }, admin: AdminServer, asserter: IdentityAsserter, moreKeys?: () => Record<string, unknown>[]): void {
  admin.route('GET', IDENTITY_JWKS_PATH, (_req, res) => sendJson(res, 200, withKeys(asserter.jwks(), moreKeys?.() ?? [])), { public: true });
  target.identity = asserter;
}

function withKeys(jwks: { keys: Record<string, unknown>[] }, more: readonly Record<string, unknown>[]): { keys: Record<string, unknown>[] } {
  if (more.length === 0) return jwks;
  const kids = new Set(jwks.keys.map((k) => k['kid']));
  return { keys: [...jwks.keys, ...more.filter((k) => !kids.has(k['kid']))] };
}
