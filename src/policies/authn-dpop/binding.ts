import { createHash, timingSafeEqual } from 'node:crypto';
import type { Identity, RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { extractBearer, invalidToken, type BearerOptions } from '../authn/bearer.ts';
import type { AuthenticatorBuildInput } from '../authn/types.ts';
import { tlsSocketOf } from '../authn-mtls/index.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { isPlainAuthority } from '../../http/hosts.ts';
import { DpopNonces } from './nonce.ts';
import { replayCacheFor, type ReplayCache } from './replay.ts';
import { invalidProof, verifyProof, type ProofOptions } from './proof.ts';
import type { SenderConstraintConfig } from './schema.ts';

const DEFAULTS: SenderConstraintConfig = {
  mode: 'allowed',
  dpop_algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
  proof_max_age_seconds: 60,
  clock_skew_seconds: 5,
  nonce: { enabled: false, rotate_seconds: 300 },
};
/** Live proofs one key may have within the replay window (about 75 requests a second, sustained). */
const MAX_PROOFS_PER_KEY = 10_000;
const DPOP_SCHEME = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;
const DPOP_SCHEME_PREFIX = /^dpop(?: |$)/i;

/** How the access token came: `Authorization: Bearer` (or the query) or `Authorization: DPoP`. */
export type TokenScheme = 'bearer' | 'dpop';

/** An access token as the request presented it. */
export interface PresentedToken {
  readonly token: string;
  readonly scheme: TokenScheme;
}

/**
 * The access token of a request, from `Authorization: DPoP` or as a bearer token (header or, where allowed, the
 * query), or undefined when it carries none. The bearer extraction always runs, so an `access_token` in the query is
 * refused (or consumed) next to a DPoP header too, and a token in both places is refused.
 */
export function presentedToken(ctx: RequestContext, bearer: BearerOptions): PresentedToken | undefined {
  const dpop = dpopToken(ctx, bearer.maxBytes);
  const fromBearer = extractBearer(ctx, bearer);
  if (dpop !== undefined && fromBearer !== undefined) throw invalidToken('access token sent twice (DPoP header and query)');
  if (dpop !== undefined) return { token: dpop, scheme: 'dpop' };
  return fromBearer === undefined ? undefined : { token: fromBearer, scheme: 'bearer' };
}

/**
 * The token of an `Authorization: DPoP <token>` header, or undefined when the header uses another scheme. Throws a
 * 401 for a malformed or oversized one.
 */
function dpopToken(ctx: RequestContext, maxBytes: number): string | undefined {
  const header = ctx.headers.authorization;
  if (header === undefined || !DPOP_SCHEME_PREFIX.test(header)) return undefined;
  if (header.length > maxBytes + 16) throw invalidToken(`DPoP token over ${maxBytes} bytes`);
  const match = DPOP_SCHEME.exec(header);
  if (!match) throw invalidToken('malformed Authorization: DPoP header');
  return match[1]!;
}

/** Checks that a verified token is used by the sender it is bound to. */
export interface SenderBinding {
  /** The identity once its token's binding holds; synchronous for an unbound bearer token where none is required. */
  confirm(ctx: RequestContext, presented: PresentedToken, identity: Identity): Identity | Promise<Identity>;
}

const bindings = new WeakMap<object, { readonly options: ProofOptions; readonly replay: ReplayCache; readonly nonces: DpopNonces | undefined }>();

/**
 * The sender-constraint check of one route (RFC 9449 DPoP, RFC 8705 certificate-bound tokens), always built for token
 * authenticators: a token bound to a key (`cnf.jkt`) is only accepted with the `DPoP` scheme and a valid proof of
 * that key (never as a bearer token), one bound to a certificate (`cnf.x5t#S256`) only over a TLS connection that
 * presented that certificate, a `cnf` with neither is refused, and with mode `required` (the API's, or the
 * operation's override) an unbound token is refused too. A proof's `jti` is reserved in the shared counters for the
 * proof's lifetime, so a replayed proof fails on every instance; counters that cannot answer fail closed (503).
 * @throws ConfigIssueError naming the config path when nonces are on with Redis counters but no shared key.
 */
export function senderBindingFor(input: AuthenticatorBuildInput): SenderBinding {
  const config = { ...DEFAULTS, ...input.auth.sender_constraint };
  const mode = input.api.operations[input.operationId]?.sender_constraint ?? config.mode;
  const counters = input.services.counters;
  let shared = bindings.get(input.auth);
  if (!shared) {
    if (config.nonce.enabled && counters?.shared.kind === 'redis' && config.nonce.key === undefined) {
      throw new ConfigIssueError(`apis[${input.apiIndex}].auth.sender_constraint.nonce.key`, 'is required with redis counters, so that every instance accepts the nonces the others issue', 'set it to the same ${env:…} or ${file:…} secret on every instance');
    }
    const nonces = config.nonce.enabled ? new DpopNonces(config.nonce.key, config.nonce.rotate_seconds) : undefined;
    shared = {
      options: { algorithms: config.dpop_algorithms, maxAgeSeconds: config.proof_max_age_seconds, skewSeconds: config.clock_skew_seconds, ...(nonces ? { nonce: nonces } : {}) },
      replay: replayCacheFor(counters, (config.proof_max_age_seconds + config.clock_skew_seconds) * 1000 * 2, MAX_PROOFS_PER_KEY),
      nonces,
    };
    bindings.set(input.auth, shared);
  }
  const { options, replay, nonces } = shared;

  const rememberJti = async (ctx: RequestContext, jkt: string, jti: string): Promise<void> => {
    const verdict = await replay.remember(ctx, jkt, jti);
    if (verdict === 'replayed') throw invalidProof('jti already used (replayed proof)', options.algorithms);
    if (verdict === 'key_over_quota') throw new GatewayError('rate_limited', 'DPoP key over its quota of live proofs', { headers: { 'retry-after': String(options.maxAgeSeconds) } });
  };

  const confirmBound = async (ctx: RequestContext, { token, scheme }: PresentedToken, identity: Identity): Promise<Identity> => {
    const cnf = identity.claims['cnf'];
    const bound = cnf === undefined ? {} : confirmationOf(cnf);
    if (scheme === 'dpop' || bound.jkt !== undefined) {
      if (bound.jkt === undefined) throw invalidToken('DPoP scheme with a token not bound to a key');
      if (scheme !== 'dpop') throw invalidToken('a DPoP-bound token sent as a bearer token');
      // An open WebSocket checked again: its upgrade request proved possession of the key; the token is what lapses.
      if (ctx.revalidating) return identity;
      const proof = singleProof(ctx, options.algorithms);
      const verified = await verifyProof(proof, { method: ctx.method, url: requestUrl(ctx, options.algorithms), accessToken: token, nowMs: Date.now(), jkt: bound.jkt }, options);
      await rememberJti(ctx, verified.jkt, verified.jti);
      // RFC 9449 §8.2: a fresh nonce on success, so clients rotate without a failed round trip.
      if (nonces) ctx.responseHeaders = { ...ctx.responseHeaders, 'dpop-nonce': nonces.current() };
    }
    if (bound.x5t !== undefined) {
      const raw = ctx.secure ? tlsSocketOf(ctx)?.getPeerCertificate()?.raw : undefined;
      const presented = raw && raw.length > 0 ? createHash('sha256').update(raw).digest() : undefined;
      const expected = Buffer.from(bound.x5t, 'base64url');
      if (!presented || expected.length !== presented.length || !timingSafeEqual(expected, presented)) throw invalidToken('certificate-bound token without its client certificate');
    }
    if (mode === 'required' && bound.jkt === undefined && bound.x5t === undefined) throw invalidToken('token is not sender-constrained (sender_constraint: required)');
    return identity;
  };

  return {
    confirm(ctx, presented, identity) {
      // The common case (a plain bearer token, nothing required) costs no promise on the hot path.
      if (presented.scheme === 'bearer' && identity.claims['cnf'] === undefined && mode !== 'required') return identity;
      return confirmBound(ctx, presented, identity);
    },
  };
}

/** `cnf` members Rampart checks; any other confirmation method, or wrong types, is refused (fail closed). */
function confirmationOf(cnf: unknown): { jkt?: string; x5t?: string } {
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) throw invalidToken('cnf claim is not an object');
  const record = cnf as Record<string, unknown>;
  const jkt = record['jkt'];
  const x5t = record['x5t#S256'];
  if (jkt !== undefined && (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt))) throw invalidToken('cnf.jkt is not a SHA-256 thumbprint');
  if (x5t !== undefined && (typeof x5t !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(x5t))) throw invalidToken('cnf.x5t#S256 is not a SHA-256 thumbprint');
  if (jkt === undefined && x5t === undefined) throw invalidToken('cnf names no confirmation method Rampart checks');
  return { ...(jkt ? { jkt } : {}), ...(x5t ? { x5t } : {}) };
}

/** The one `DPoP` header of the request (two, or a joined list, are refused). */
function singleProof(ctx: RequestContext, algorithms: readonly string[]): string {
  const raw = ctx.req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'dpop') count++;
  const value = ctx.headers['dpop'];
  if (count !== 1 || typeof value !== 'string') throw invalidProof(count === 0 ? 'no DPoP header' : 'more than one DPoP header', algorithms);
  return value;
}

/** The URL the client addressed, as `htu` must name it: scheme, the Host it sent, the path as received. */
function requestUrl(ctx: RequestContext, algorithms: readonly string[]): string {
  const host = (ctx.headers[':authority'] as string | undefined) ?? ctx.headers.host;
  // Only a bare authority: a Host of `h/public?` would move the real path out of the URL the proof is judged by.
  if (typeof host !== 'string' || !isPlainAuthority(host)) throw invalidProof('request has no plain host to match htu against', algorithms);
  const url = `${ctx.secure ? 'https' : 'http'}://${host}${ctx.path}`;
  if (new URL(url).pathname !== ctx.path) throw invalidProof('request path is not a plain path', algorithms);
  return url;
}
