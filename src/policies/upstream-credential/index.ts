import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigIssueError } from '../../config/errors.ts';
import type { ApiConfig } from '../../config/types.ts';
import type { Identity, PolicyBuildInput, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { claimPath, readClaim } from '../authn-jwt/claims.ts';
import { secretBytes } from '../authn-jwt/verify.ts';
import { HMAC_MIN_BYTES } from '../authn-jwt/schema.ts';
import type { ClaimSource, MintJwtConfig, StaticCredentialConfig, UpstreamCredentialConfig } from './schema.ts';

/** Headers a credential can never be carried in: the proxy sets or drops them itself. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'forwarded']);
/** Always removed from the client's request: the credentials a client presents to Rampart. */
const CLIENT_CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'proxy-authorization'];
const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
const MAX_CACHED = 10_000;

type Mint = (identity: Identity) => Promise<string>;

/**
 * Token exchange at the gateway (`apis[].upstream_credential`): on every request of the API, the client's own
 * credential headers are removed, and an authenticated request gets a credential Rampart issues itself for the
 * identity — a JWT signed with the upstream's key, or a fixed per-consumer secret. A token a client forged with
 * the upstream's (possibly weak) key therefore never reaches it: the upstream only ever sees what Rampart minted for
 * whoever authenticated. Runs last among the request stages, so nothing is minted for a request a stage denied.
 * Returns undefined when the API has no `upstream_credential`.
 * @throws ConfigIssueError naming the config path on an unusable key, header or combination.
 */
export function createUpstreamCredentialPolicy(input: PolicyBuildInput): RequestPolicy | undefined {
  const credential = upstreamCredentialOf(input);
  if (!credential) return undefined;
  return {
    name: 'upstream-credential',
    stage: 'credential',
    async run(ctx: RequestContext): Promise<void> {
      ctx.stripUpstreamHeaders = credential.strip;
      if (ctx.identity !== undefined) ctx.upstreamHeaders = await credential.headersFor(ctx.identity);
    },
  };
}

/** What every call Rampart makes to the API's upstream on a client's behalf sends instead of the client's credential. */
export interface UpstreamCredential {
  /** Client request headers never forwarded. */
  readonly strip: ReadonlySet<string>;
  /** The minted credential header for an identity; rejects with a 403 GatewayError when there is none for it. */
  headersFor(identity: Identity): Promise<Record<string, string>>;
}

/**
 * The route's upstream credential, or undefined when the API has none. Shared with the owner lookups of the same
 * API, which call the upstream before the credential stage runs and must not send the client's own credential either.
 */
export function upstreamCredentialOf(input: PolicyBuildInput): UpstreamCredential | undefined {
  const config = input.api.upstream_credential;
  if (!config) return undefined;
  const compiled = compiledFor(config, `apis[${input.apiIndex}].upstream_credential`, input);
  return {
    strip: new Set([...CLIENT_CREDENTIAL_HEADERS, ...config.strip_headers, compiled.header, ...specKeyHeaders(input)]),
    headersFor: async (identity) => ({ [compiled.header]: compiled.prefix + (await compiled.mint(identity)) }),
  };
}

interface CompiledCredential {
  readonly header: string;
  readonly prefix: string;
  readonly mint: Mint;
}

/** One compiled credential per API config (keys parsed once, the token cache shared by the API's routes). */
const compiledCredentials = new WeakMap<UpstreamCredentialConfig, CompiledCredential>();

function compiledFor(config: UpstreamCredentialConfig, at: string, input: PolicyBuildInput): CompiledCredential {
  let compiled = compiledCredentials.get(config);
  if (compiled) return compiled;
  if ((config.jwt === undefined) === (config.static === undefined)) throw new ConfigIssueError(at, 'set exactly one of jwt or static', 'jwt: mint a token per identity; static: a fixed credential per consumer');
  const spec = config.jwt ?? config.static!;
  const where = `${at}.${config.jwt ? 'jwt' : 'static'}.header`;
  if (RESERVED_HEADERS.has(spec.header) || spec.header.startsWith('x-rampart-')) throw new ConfigIssueError(where, `"${spec.header}" is set by the proxy itself and cannot carry a credential`, 'use authorization or an application header');
  checkNoOtherPathToUpstream(input);
  if (config.jwt) checkKeyNotAccepted(config.jwt, `${at}.jwt.key`, input);
  compiled = {
    header: spec.header,
    prefix: spec.prefix,
    mint: config.jwt ? jwtMinter(config.jwt, `${at}.jwt`, input) : staticCredential(config.static!),
  };
  compiledCredentials.set(config, compiled);
  return compiled;
}

/**
 * Every API on this upstream must mint too: another API forwarding the client's own credential to the same
 * upstream would let a forged token in beside the minted ones.
 */
function checkNoOtherPathToUpstream(input: PolicyBuildInput): void {
  input.config?.apis.forEach((other, i) => {
    if (other === input.api || other.upstream !== input.api.upstream || other.upstream_credential !== undefined) return;
    throw new ConfigIssueError(
      `apis[${i}].upstream_credential`,
      `API "${other.name}" forwards clients' own credentials to upstream "${other.upstream}", which apis[${input.apiIndex}] (${input.api.name}) mints credentials for: a forged token would reach it that way`,
      'set upstream_credential on every API of this upstream',
    );
  });
}

/**
 * Rampart must not accept tokens signed with the key it mints with: a client that guessed or stole the key would have
 * its forged token verified and then re-minted into a genuine one.
 */
function checkKeyNotAccepted(config: MintJwtConfig, at: string, input: PolicyBuildInput): void {
  if (!config.algorithm.startsWith('HS')) return;
  const key = Buffer.from(secretBytes(config.key, at));
  input.api.auth?.jwt?.issuers.forEach((issuer, i) => {
    if (issuer.secret === undefined || !key.equals(Buffer.from(secretBytes(issuer.secret, 'secret')))) return;
    throw new ConfigIssueError(
      at,
      `is also the secret of apis[${input.apiIndex}].auth.jwt.issuers[${i}]: a token forged with it would be accepted and re-minted into a genuine one`,
      'let clients authenticate with something else (API keys, your IdP, mTLS) and keep the upstream\'s key for minting only',
    );
  });
}

function staticCredential(config: StaticCredentialConfig): Mint {
  const byConsumer = new Map(Object.entries(config.consumers));
  return (identity) => {
    const credential = identity.consumer === undefined ? undefined : byConsumer.get(identity.consumer);
    if (credential === undefined) return Promise.reject(new GatewayError('forbidden', 'no upstream credential for this consumer'));
    return Promise.resolve(credential);
  };
}

/**
 * Signs a JWT per identity with the upstream's key. Tokens are cached by their claims and reused for the first
 * half of their lifetime (a signature per identity per half-TTL, not per request; never a token with under half its
 * lifetime left). The cache is bounded: past MAX_CACHED identities, the oldest entry goes.
 */
function jwtMinter(config: MintJwtConfig, at: string, input: PolicyBuildInput): Mint {
  const key = signingKey(config, at, input);
  const header = { alg: config.algorithm, typ: config.type, ...(config.key_id ? { kid: config.key_id } : {}) };
  const claims = Object.entries(config.claims).map(([name, source]) => [name, claimReader(source)] as const);
  const cache = new Map<string, { readonly token: string; readonly renewAt: number }>();
  return async (identity) => {
    const payload: Record<string, unknown> = {};
    for (const [name, read] of claims) {
      const value = read(identity);
      if (value !== undefined) payload[name] = value;
      // Never a token without its subject: the upstream would take whatever it defaults to, and callers would share it.
      else if (name === 'sub') throw new GatewayError('forbidden', 'the caller has no value for the minted token\'s sub');
    }
    const cacheKey = JSON.stringify(payload);
    const now = Date.now();
    const hit = cache.get(cacheKey);
    if (hit && hit.renewAt > now) return hit.token;
    const iat = Math.floor(now / 1000);
    const jwt = new SignJWT(payload).setProtectedHeader(header).setIssuedAt(iat).setExpirationTime(iat + config.ttl_seconds);
    if (config.issuer) jwt.setIssuer(config.issuer);
    if (config.audience) jwt.setAudience(config.audience);
    const token = await jwt.sign(key);
    cache.delete(cacheKey);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(cacheKey, { token, renewAt: now + (config.ttl_seconds * 1000) / 2 });
    return token;
  };
}

function claimReader(source: ClaimSource): (identity: Identity) => unknown {
  if (typeof source !== 'string') return () => source.value;
  if (source.startsWith('claims.')) {
    const path = claimPath(source.slice('claims.'.length));
    return (identity) => readClaim(identity.claims as Record<string, unknown>, path);
  }
  switch (source.slice('identity.'.length)) {
    case 'subject':
      return (identity) => identity.subject;
    case 'consumer':
      return (identity) => identity.consumer;
    case 'tenant':
      return (identity) => identity.tenant;
    case 'roles':
      return (identity) => [...identity.roles];
    case 'scopes':
      return (identity) => identity.scopes.join(' ');
    case 'key_id':
      return (identity) => identity.keyId;
    default:
      return (identity) => identity.method;
  }
}

/** The signing key, checked against the algorithm at start (a wrong key type never surfaces per request). */
function signingKey(config: MintJwtConfig, at: string, input: PolicyBuildInput): Uint8Array | KeyObject {
  const alg = config.algorithm;
  if (alg.startsWith('HS')) {
    if (/-----BEGIN/.test(config.key)) throw new ConfigIssueError(`${at}.key`, `${alg} needs the upstream's HMAC secret, not a PEM key`);
    const bytes = secretBytes(config.key, `${at}.key`);
    if (bytes.length === 0) throw new ConfigIssueError(`${at}.key`, 'is empty');
    if (bytes.length < HMAC_MIN_BYTES[alg]!) {
      input.warn?.(`${at}.key`, `the upstream trusts a ${bytes.length * 8}-bit ${alg} secret: Rampart never forwards a client's token, but anyone who guesses the key and reaches the upstream directly can forge; keep it off the network and rotate to 256 bits`);
    }
    return bytes;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(config.key);
  } catch (error) {
    throw new ConfigIssueError(`${at}.key`, `not a PEM private key (${(error as Error).message})`, 'give a PKCS#8 PEM file as ${file:…}');
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  const fits = alg.startsWith('ES')
    ? type === 'ec' && details?.namedCurve === CURVES[alg]
    : alg === 'EdDSA'
      ? type === 'ed25519' || type === 'ed448'
      : (type === 'rsa' || (alg.startsWith('PS') && type === 'rsa-pss')) && (details?.modulusLength ?? 0) >= 2048;
  if (!fits) throw new ConfigIssueError(`${at}.key`, `a ${type ?? 'unknown'} key cannot sign ${alg}`, alg.startsWith('R') || alg.startsWith('P') ? 'RSA keys need at least 2048 bits' : 'use a key of the algorithm\'s type and curve');
  return key;
}

/** Header names of the operation's OpenAPI apiKey schemes: client credentials like `X-API-Key`. */
function specKeyHeaders(input: PolicyBuildInput): string[] {
  const schemes = input.operation?.securitySchemes ?? {};
  return Object.values(schemes).flatMap((s) => (s?.type === 'apiKey' && s.in === 'header' ? [s.name.toLowerCase()] : []));
}

/** The API's upstream credential as `rampart check` prints it, or undefined without one. */
export function upstreamCredentialReport(api: ApiConfig): string | undefined {
  const config = api.upstream_credential;
  if (config?.jwt) {
    const claims = Object.entries(config.jwt.claims).map(([name, source]) => `${name}←${typeof source === 'string' ? source : JSON.stringify(source.value)}`);
    return `mint ${config.jwt.algorithm} jwt → ${config.jwt.header} (${claims.join(' ')}, ${config.jwt.ttl_seconds}s)`;
  }
  if (config?.static) return `static → ${config.static.header} (${Object.keys(config.static.consumers).length} consumers)`;
  return undefined;
}
