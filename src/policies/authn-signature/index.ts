/**
 * HTTP Message Signatures (RFC 9421): partner requests authenticated by their signature (`keyid` → consumer), and
 * the gateway's own signature on the requests it sends upstream.
 */
import { randomBytes } from 'node:crypto';
import { parseDictionary, serializeInnerList, type Dictionary, type InnerList, type Item } from 'structured-headers';
import { ConfigIssueError } from '../../config/errors.ts';
import type { ApiConfig, RampartConfig } from '../../config/types.ts';
import { ACCEPTED_DIGESTS, contentDigestOf, DigestFieldError, digestMatches, fieldDigests } from '../../http/digest.ts';
import type { Identity, PolicyBuildInput, PolicyFactory, RequestContext, RequestPolicy, SignatureKeyDirectory, SignatureVerifier, UpstreamRequestSigner } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { isWebSocketUpgrade } from '../../proxy/websocket/upgrade.ts';
import type { Consumer, Store } from '../../store/types.ts';
import type { Authenticator, AuthenticatorBuildInput, AuthenticatorFactory } from '../authn/types.ts';
import { cachedConsumerLookup } from '../authn/consumers.ts';
import { ComponentError, coveredComponents, fieldLines, normaliseAuthority, parseComponent, signatureBase, type Component, type SignedMessage } from './components.ts';
import { signBase, upstreamKey, verificationKey, type UpstreamKey, type VerificationKey } from './keys.ts';
import { nonceCacheFor, type NonceCache, type NonceLimits } from './replay.ts';
import { KEY_ID_PATTERN, upstreamSigningSchema, type SignatureAuthConfig, type UpstreamSigningConfig } from './schema.ts';

export { signatureAuthSchema, upstreamSigningSchema, type SignatureAuthConfig, type UpstreamSigningConfig } from './schema.ts';
export { StoreSignatureKeys, type StoreSignatureKeyOptions } from './store-keys.ts';

/** Longest `Signature-Input` or `Signature` field read; longer ones are refused before parsing. */
export const MAX_SIGNATURE_FIELD_CHARS = 8192;
/** Longest signature accepted, in bytes (RSA 8192-bit signatures are 1024). */
const MAX_SIGNATURE_BYTES = 1024;
/** Longest `nonce` accepted, in characters. */
const MAX_NONCE_CHARS = 256;
const KEY_ID = new RegExp(KEY_ID_PATTERN);

/** Options of the authenticator for tests: the clock, in ms since the epoch. */
export interface SignatureAuthOptions {
  readonly now?: () => number;
}

/** What one API's signature authentication shares across its routes: keys, the nonce cache, consumer lookups. */
interface ApiVerifier {
  readonly keys: ReadonlyMap<string, VerificationKey>;
  /** The store's keys, for keyids not in `keys` (`store_keys: true`). */
  readonly storeKeys: SignatureKeyDirectory | undefined;
  readonly nonces: { readonly cache: NonceCache; readonly limits: NonceLimits };
  consumer(id: string): Promise<Consumer | undefined>;
}

const apiVerifiers = new WeakMap<ApiConfig, ApiVerifier>();
/**
 * One nonce cache per gateway process (its counters), whatever the APIs and reloads: a reload that changes an
 * API's window or quota, or renames it, must not forget the nonces already accepted (a captured request would be
 * accepted again). Each API passes its own limits; nonces are remembered by key id.
 */
const nonceCaches = new WeakMap<object, NonceCache>();

function nonceCache(input: AuthenticatorBuildInput, config: SignatureAuthConfig): { readonly cache: NonceCache; readonly limits: NonceLimits } {
  const limits = { windowMs: (config.max_age_seconds + 2 * config.clock_skew_seconds) * 1000, perKey: config.max_nonces_per_key };
  const owner: object = input.services.counters ?? input.services;
  let cache = nonceCaches.get(owner);
  if (!cache) {
    cache = nonceCacheFor(input.services.counters, limits.windowMs, limits.perKey);
    nonceCaches.set(owner, cache);
  }
  return { cache, limits };
}

function apiVerifier(input: AuthenticatorBuildInput, config: SignatureAuthConfig, at: string): ApiVerifier {
  const known = apiVerifiers.get(input.api);
  if (known) return known;
  const keys = new Map<string, VerificationKey>();
  for (const [keyid, key] of Object.entries(config.keys)) keys.set(keyid, verificationKey(keyid, key, `${at}.keys.${keyid}`));
  if (keys.size === 0 && !config.store_keys) throw new ConfigIssueError(`${at}.keys`, 'needs at least one key', 'add keys: { <keyid>: { consumer: …, algorithm: …, public_key: … } }, or set store_keys: true');
  const storeKeys = config.store_keys ? input.services.signatureKeys : undefined;
  if (config.store_keys && !storeKeys) throw new ConfigIssueError(`${at}.store_keys`, 'store-backed signature keys need the store; it was not started');
  const store = input.services.store as Store | undefined;
  const verifier: ApiVerifier = {
    keys,
    storeKeys,
    nonces: nonceCache(input, config),
    consumer: cachedConsumerLookup(store),
  };
  apiVerifiers.set(input.api, verifier);
  return verifier;
}

/** The components this route requires: `operations.<id>` in config, else `x-rampart-signature`, else the API's. */
function requiredComponents(input: AuthenticatorBuildInput, config: SignatureAuthConfig, at: string): Component[] {
  const configured = config.operations[input.operationId]?.components;
  const marked = input.operation?.raw['x-rampart-signature'];
  let list: readonly string[] = config.components;
  let where = `${at}.components`;
  if (configured !== undefined) {
    list = configured;
    where = `${at}.operations.${input.operationId}.components`;
  } else if (marked !== undefined) {
    where = `x-rampart-signature on operation ${input.operationId}`;
    const components = (marked as { components?: unknown } | null)?.components;
    if (typeof marked !== 'object' || marked === null || Array.isArray(marked) || Object.keys(marked).some((k) => k !== 'components') || !Array.isArray(components) || components.length > 32 || components.some((c) => typeof c !== 'string')) {
      throw new ConfigIssueError(where, 'must be { components: [<component identifier>, …] }');
    }
    list = components as string[];
  }
  const out: Component[] = [];
  for (const [i, text] of list.entries()) {
    try {
      out.push(parseComponent(text));
    } catch (error) {
      throw new ConfigIssueError(`${where}[${i}]`, (error as Error).message, 'use an RFC 9421 component identifier such as @method, @target-uri, content-digest or "@query-param";name="id"');
    }
  }
  return out;
}

/** A signature refused: a 401 `invalid_token`, the reason (a bounded code) noted for the log, metrics and backoff. */
function refused(ctx: RequestContext, reason: string, keyId?: string, cause?: unknown): GatewayError {
  ctx.notes.authFailure = { method: 'signature', reason, ...(keyId !== undefined ? { keyId } : {}) };
  return new GatewayError('invalid_token', `message signature rejected: ${reason}`, cause === undefined ? undefined : { cause });
}

function singleField(ctx: RequestContext, name: string): string | undefined {
  const value = ctx.headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

function dictionary(ctx: RequestContext, name: 'signature' | 'signature-input', value: string): Dictionary {
  if (value.length > MAX_SIGNATURE_FIELD_CHARS) throw refused(ctx, 'oversized');
  try {
    return parseDictionary(value);
  } catch (error) {
    throw refused(ctx, name === 'signature' ? 'malformed_signature' : 'malformed_signature_input', undefined, error);
  }
}

/** The request as the client signed it: method, scheme, the authority it addressed and the target as sent. */
function receivedMessage(ctx: RequestContext): SignedMessage {
  const target = ctx.req.url ?? '';
  if (!target.startsWith('/')) throw refused(ctx, 'target_not_origin_form');
  const scheme = ctx.secure ? 'https' : 'http';
  const host = (ctx.headers[':authority'] as string | undefined) ?? ctx.headers.host;
  if (typeof host !== 'string' || host === '') throw refused(ctx, 'no_authority');
  return { method: ctx.method, scheme, authority: normaliseAuthority(host, scheme), target, headers: fieldLines(ctx.req.rawHeaders) };
}

/**
 * Builds the message-signature authenticator of one route. Per request: a request with neither `Signature-Input`
 * nor `Signature` carries no such credential; otherwise everything must hold or the request is refused 401
 * `invalid_token` (fail closed, any error included): both fields parse (RFC 8941 dictionaries, each at most 8 KiB);
 * one signature (or the configured label); `keyid` names a configured key and `alg`, when present, is that key's
 * pinned algorithm; `created` present, not ahead of the clock by more than the skew nor older than `max_age_seconds`;
 * `expires`, when present, not passed; the covered components include every required one and are each valid
 * and present; the signature verifies over the signature base; a covered `content-digest` matches the body; the
 * `nonce` (when required or given) was not accepted before for this key. The consumer of the key is the identity.
 * @throws ConfigIssueError naming the config path on an unusable key or component identifier.
 */
export function createSignatureAuthenticator(input: AuthenticatorBuildInput, options: SignatureAuthOptions = {}): Authenticator | undefined {
  const config = input.auth.signatures;
  if (!config) return undefined;
  const at = `apis[${input.apiIndex}].auth.signatures`;
  const verifier = apiVerifier(input, config, at);
  const required = requiredComponents(input, config, at);
  const requiredIds = required.map((c) => c.id);
  const now = options.now ?? Date.now;
  const limit = input.maxBodyBytes;
  const { label, max_age_seconds: maxAge, clock_skew_seconds: skew } = config;
  const nonceRequired = config.nonce === 'required';
  const requireDigest = config.require_content_digest;

  const verify = async (ctx: RequestContext, inputField: string | undefined, signatureField: string | undefined): Promise<Identity> => {
    if (inputField === undefined || signatureField === undefined) throw refused(ctx, 'incomplete');
    const inputs = dictionary(ctx, 'signature-input', inputField);
    const signatures = dictionary(ctx, 'signature', signatureField);
    let name: string;
    if (label !== undefined) {
      name = label;
    } else {
      if (inputs.size !== 1) throw refused(ctx, inputs.size === 0 ? 'no_signature' : 'several_signatures');
      name = inputs.keys().next().value!;
    }
    const member = inputs.get(name);
    const signed = signatures.get(name);
    if (member === undefined || signed === undefined) throw refused(ctx, 'label_missing');
    if (!Array.isArray(member[0])) throw refused(ctx, 'malformed_signature_input');
    const params = member[1];
    const signatureBytes = (signed as Item)[0];
    if (Array.isArray(signatureBytes) || !(signatureBytes instanceof ArrayBuffer) || signatureBytes.byteLength === 0 || signatureBytes.byteLength > MAX_SIGNATURE_BYTES) throw refused(ctx, 'malformed_signature');

    const keyid = params.get('keyid');
    if (typeof keyid !== 'string') throw refused(ctx, 'no_keyid');
    let key: SignatureVerifier | undefined = verifier.keys.get(keyid);
    /** The consumer of a store key, read with the key (undefined for config keys: looked up below). */
    let storeConsumer: Consumer | undefined;
    // An unknown keyid is no guess at a known key: it is not counted per key id (it would let anyone fill counters).
    if (key === undefined) {
      if (!verifier.storeKeys || !KEY_ID.test(keyid)) throw refused(ctx, 'unknown_key');
      let verdict;
      try {
        verdict = await verifier.storeKeys.find(keyid);
      } catch (error) {
        // Fail closed, but not as the client's fault: the store could not say whether the key is valid.
        throw new GatewayError('service_unavailable', 'signature key store unavailable', { cause: error });
      }
      if (!verdict.ok) {
        if (verdict.reason === 'unknown') throw refused(ctx, 'unknown_key');
        if (verdict.reason === 'lookup_budget') throw refused(ctx, 'unknown_key_lookup_budget');
        throw refused(ctx, `store_key_${verdict.reason}`, keyid);
      }
      key = verdict.key;
      storeConsumer = verdict.consumer;
    }
    const alg = params.get('alg');
    if (alg !== undefined && alg !== key.algorithm) throw refused(ctx, 'alg_mismatch', keyid);

    const created = params.get('created');
    const expires = params.get('expires');
    const nonce = params.get('nonce');
    if (typeof created !== 'number' || !Number.isInteger(created)) throw refused(ctx, 'no_created', keyid);
    if (expires !== undefined && (typeof expires !== 'number' || !Number.isInteger(expires) || expires < created)) throw refused(ctx, 'malformed_expires', keyid);
    if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_CHARS)) throw refused(ctx, 'malformed_nonce', keyid);
    if (nonce === undefined && nonceRequired) throw refused(ctx, 'no_nonce', keyid);
    const t = Math.floor(now() / 1000);
    if (created > t + skew) throw refused(ctx, 'created_in_future', keyid);
    // An open WebSocket's re-check verifies the same signature again, later: its age and nonce were checked at the upgrade.
    if (!ctx.revalidating && t - created > maxAge + skew) throw refused(ctx, 'too_old', keyid);
    if (typeof expires === 'number' && t > expires + skew) throw refused(ctx, 'expired', keyid);

    let covered: Component[];
    try {
      covered = coveredComponents(member as InnerList);
    } catch (error) {
      throw refused(ctx, 'bad_component', keyid, error);
    }
    const ids = new Set(covered.map((c) => c.id));
    for (const id of requiredIds) if (!ids.has(id)) throw refused(ctx, 'required_component_missing', keyid);
    if (requireDigest && ctx.hasBody && !ids.has('"content-digest"')) throw refused(ctx, 'content_digest_not_covered', keyid);

    let base: string;
    try {
      base = signatureBase(receivedMessage(ctx), covered, member as InnerList);
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw refused(ctx, 'component_unavailable', keyid, error);
    }
    if (!key.verify(Buffer.from(base), Buffer.from(signatureBytes))) throw refused(ctx, 'bad_signature', keyid);

    // The signature vouches for the Content-Digest field; the body must be the one it digests, or the body could
    // have been changed after signing. Checked here, whatever apis[].content_digest says.
    if (covered.some((c) => c.name === 'content-digest')) {
      let digests;
      try {
        digests = fieldDigests('content-digest', singleField(ctx, 'content-digest') ?? '', ACCEPTED_DIGESTS);
      } catch (error) {
        if (!(error instanceof DigestFieldError)) throw error;
        throw refused(ctx, 'malformed_content_digest', keyid, error);
      }
      if (digests.length === 0) throw refused(ctx, 'no_accepted_content_digest', keyid);
      const body = ctx.hasBody ? await ctx.readBody(limit) : Buffer.alloc(0);
      for (const digest of digests) if (!digestMatches(digest, body)) throw refused(ctx, 'body_does_not_match_digest', keyid);
    }

    if (nonce !== undefined && !ctx.revalidating) {
      // By keyid alone, not by API: a nonce is single-use for its key wherever it is presented (a renamed API too).
      const verdict = await verifier.nonces.cache.remember(ctx, keyid, nonce as string, verifier.nonces.limits);
      if (verdict === 'replayed') throw refused(ctx, 'replayed', keyid);
      if (verdict === 'key_over_quota') throw refused(ctx, 'nonce_quota', keyid);
    }

    let consumer: Consumer | undefined = storeConsumer;
    if (!consumer) {
      try {
        consumer = await verifier.consumer(key.consumer);
      } catch (error) {
        throw new GatewayError('service_unavailable', 'consumer store unavailable', { cause: error });
      }
    }
    return Object.freeze({
      subject: key.consumer,
      consumer: key.consumer,
      ...(consumer?.tenant ? { tenant: consumer.tenant } : {}),
      roles: Object.freeze([...(consumer?.roles ?? [])]),
      scopes: key.scopes,
      claims: Object.freeze({
        signature: Object.freeze({ keyid, alg: key.algorithm, label: name, created, ...(typeof expires === 'number' ? { expires } : {}), covered: Object.freeze(covered.map((c) => c.id)) }),
        plan: consumer?.plan ?? null,
      }),
      method: 'signature',
      keyId: keyid,
    });
  };

  return {
    method: 'signature',
    kind: 'httpSignature',
    async authenticate(ctx: RequestContext): Promise<Identity | undefined> {
      const inputField = singleField(ctx, 'signature-input');
      const signatureField = singleField(ctx, 'signature');
      if (inputField === undefined && signatureField === undefined) return undefined;
      try {
        return await verify(ctx, inputField, signatureField);
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        if (error instanceof ComponentError) throw refused(ctx, 'bad_component', undefined, error);
        // Fail closed: whatever broke, the signature is not accepted.
        throw refused(ctx, 'verification_error', undefined, error);
      }
    },
  };
}

/** Registration entry for the authenticate stage (src/policies/authn/index.ts). */
export const signatureAuthenticatorFactory: AuthenticatorFactory = { name: 'signature', kind: 'httpSignature', create: (input) => createSignatureAuthenticator(input) };

/* ---------------------------------------------------------------- outbound: the gateway signs upstream requests */

const upstreamKeyRings = new WeakMap<UpstreamSigningConfig, readonly UpstreamKey[]>();

/** The signing keys of an upstream or response signing setting (parsed once per config object). */
export function upstreamKeys(config: UpstreamSigningConfig, at: string): readonly UpstreamKey[] {
  const known = upstreamKeyRings.get(config);
  if (known) return known;
  if (!config.keys || config.keys.length === 0) throw new ConfigIssueError(`${at}.keys`, 'upstream signing needs at least one key', 'add keys: [{ keyid: …, private_key: ${file:…} }]');
  const seen = new Set<string>();
  const keys = config.keys.map((k, i) => {
    if (seen.has(k.keyid)) throw new ConfigIssueError(`${at}.keys[${i}].keyid`, `keyid ${k.keyid} is listed twice`);
    seen.add(k.keyid);
    return upstreamKey(k.keyid, k.private_key, `${at}.keys[${i}].private_key`);
  });
  upstreamKeyRings.set(config, Object.freeze(keys));
  return keys;
}

/** Options of the upstream signer for tests: the clock (ms since the epoch) and the nonce source. */
export interface UpstreamSignerOptions {
  readonly now?: () => number;
  readonly nonce?: () => string;
}

/**
 * The signer of upstream requests for `config`: Ed25519 with its first key, covering `components` (derived ones
 * always; fields when the request has them), `created`, `expires`, `keyid`, `alg` and a random `nonce`, under
 * `label`. Its `Signature-Input`/`Signature` replace any the client sent.
 * @throws ConfigIssueError naming `at` on a missing or unusable key or component.
 */
export function createUpstreamSigner(config: UpstreamSigningConfig, at: string, options: UpstreamSignerOptions = {}): UpstreamRequestSigner {
  const [key] = upstreamKeys(config, at);
  const components = config.components.map((text, i) => {
    try {
      return parseComponent(text);
    } catch (error) {
      throw new ConfigIssueError(`${at}.components[${i}]`, (error as Error).message);
    }
  });
  const now = options.now ?? Date.now;
  const nonce = options.nonce ?? (() => randomBytes(16).toString('base64url'));
  return {
    sign(request) {
      const headers: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
      for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : [String(value)];
      const message: SignedMessage = { method: request.method, scheme: request.scheme, authority: normaliseAuthority(request.authority, request.scheme), target: request.target, headers };
      const covered = components.filter((c) => c.name.startsWith('@') ? c.name !== '@query-param' || request.target.includes('?') : headers[c.name] !== undefined);
      return gatewaySignature(key!, config, covered, Math.floor(now() / 1000), nonce(), (inner) => signatureBase(message, covered, inner));
    },
  };
}

/**
 * The gateway's own signature (upstream requests, responses): `Signature-Input`/`Signature` under `config.label`,
 * Ed25519 with `key` over `covered`, with `created`, `expires`, `keyid`, `alg` and `nonce`; `base` renders the
 * signature base (ending with the `@signature-params` line) for those parameters.
 */
export function gatewaySignature(key: UpstreamKey, config: UpstreamSigningConfig, covered: readonly Component[], created: number, nonce: string, base: (inner: InnerList) => string): { 'signature-input': string; signature: string } {
  const params = new Map<string, string | number>([
    ['created', created],
    ['expires', created + config.expires_seconds],
    ['keyid', key.keyid],
    ['alg', 'ed25519'],
    ['nonce', nonce],
  ]);
  const inner: InnerList = [covered.map((c) => c.item), params];
  const signature = signBase(key, base(inner));
  return { 'signature-input': `${config.label}=${serializeInnerList(inner)}`, signature: `${config.label}=:${signature.toString('base64')}:` };
}

/**
 * The credential-stage half of upstream signing: hands the proxy the signer (it signs each try as sent, and the
 * WebSocket relay the upgrade it sends) and, when `content-digest` is covered and the request has a body, buffers
 * the body and sets `Content-Digest` (sha-256) for the upstream, so the signature vouches for the bytes sent (a
 * request without a body, or an upgrade, is not buffered and a client's Content-Digest on it is dropped). Undefined when upstream
 * signing is off.
 */
export function createUpstreamSigningPolicy(input: PolicyBuildInput, config: UpstreamSigningConfig): RequestPolicy | undefined {
  if (!config.enabled) return undefined;
  const at = `apis[${input.apiIndex}].upstream_signing`;
  const signer = createUpstreamSigner(config, at);
  const digest = config.components.some((c) => c === 'content-digest' || c === '"content-digest"');
  const limit = input.maxBodyBytes;
  return {
    name: 'upstream-signing',
    stage: 'credential',
    async run(ctx: RequestContext): Promise<void> {
      // A WebSocket upgrade sends no body upstream (its handshake is signed by the relay, proxy/websocket/): nothing
      // to buffer. Without a digest of our own (no body, or an upgrade), a Content-Digest the client set would be
      // vouched for by the gateway's signature without being checked: it is dropped.
      const computed = digest && ctx.hasBody && !isWebSocketUpgrade(ctx.headers);
      if (computed) {
        const body = await ctx.readBody(limit);
        ctx.upstreamHeaders = { ...ctx.upstreamHeaders, 'content-digest': contentDigestOf(body) };
      }
      ctx.stripUpstreamHeaders = new Set([...(ctx.stripUpstreamHeaders ?? []), 'signature', 'signature-input', ...(digest && !computed ? ['content-digest'] : [])]);
      ctx.upstreamSigner = signer;
    },
  };
}

/** The registry entry (src/policies/index.ts): upstream signing and its `apis[].upstream_signing` setting. */
export const upstreamSigningPolicy: PolicyFactory = {
  name: 'upstream-signing',
  setting: { key: 'upstream_signing', schema: upstreamSigningSchema },
  // The loader validated and defaulted the value against upstreamSigningSchema.
  build: (input, setting) => ({ request: createUpstreamSigningPolicy(input, setting as UpstreamSigningConfig) }),
};

/**
 * The public keys of every API's upstream and response signing keys (current, previous and next), as JWKs for the admin
 * listener's `/.well-known/jwks.json`. Unusable keys are left out (start-up refused them already).
 */
export function upstreamSigningJwks(config: RampartConfig): Record<string, string>[] {
  const out = new Map<string, Record<string, string>>();
  for (const [i, api] of config.apis.entries()) {
    const settings = api as unknown as { upstream_signing?: UpstreamSigningConfig; response_signing?: UpstreamSigningConfig };
    for (const key of ['upstream_signing', 'response_signing'] as const) {
      const setting = settings[key];
      if (!setting?.enabled || !setting.keys) continue;
      try {
        for (const k of upstreamKeys(setting, `apis[${i}].${key}`)) if (!out.has(k.keyid)) out.set(k.keyid, { ...k.publicJwk });
      } catch {
        continue;
      }
    }
  }
  return [...out.values()];
}
