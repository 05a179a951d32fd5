/**
 * The pipeline's types (DESIGN.md §3): the per-request context, the compiled route, the fixed stage orders, the
 * policy interfaces and what a policy factory sees. Policies, the proxy and the server depend on this module; it
 * depends on nothing above it (the services' types are type-only references to the modules that implement them).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Readable } from 'node:stream';
import { GatewayError } from '../problem.ts';
import type { Logger } from '../log.ts';
import type { ApiConfig, CorsConfig, IdentityConfig, RampartConfig, SecurityHeadersConfig, UpstreamConfig } from '../config/types.ts';
import type { LoadedSpec, SpecOperation } from '../openapi/load.ts';
import type { Counters, LoginRegistration } from '../counters/index.ts';
import type { ApiKeyRecord, Consumer, ConsumerPatch, NewConsumer, Store } from '../store/types.ts';
import type { SecurityEvents } from '../bus/events.ts';
import type { Pool } from 'undici';

export type ServerRequest = IncomingMessage | Http2ServerRequest;
/** What the pipeline uses of a response; both `http.ServerResponse` and `http2.Http2ServerResponse` fit. */
export interface ServerResponseLike extends NodeJS.WritableStream {
  readonly headersSent: boolean;
  statusCode: number;
  readonly writableFinished: boolean;
  /** Whether end() was called (an HTTP/2 response reports writableFinished after a reset without it). */
  readonly writableEnded: boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  destroy(error?: Error): unknown;
  /** Trailer fields sent after a chunked (HTTP/1.1) or any HTTP/2 body. */
  addTrailers(headers: OutgoingHttpHeaders): void;
}

/** Who is calling, as established by the authenticate stage. */
export interface Identity {
  readonly subject: string;
  readonly consumer?: string;
  readonly tenant?: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  /** How the caller authenticated: `jwt`, `introspection`, `api_key`, `mtls`, `signature`. */
  readonly method: string;
  /** Key id for API keys (never the key itself). */
  readonly keyId?: string;
  /** The configured issuer that vouched for a token (JWT: the issuer it was checked against; introspection: its endpoint's issuer). */
  readonly issuer?: string;
}

/** Why an authenticator refused a presented credential: bounded codes, never the credential. */
export interface AuthFailure {
  /** `jwt`, `introspection`, `api_key`, `mtls`. */
  readonly method: string;
  /** The method's reason code (`unknown`, `expired`, `mismatch`, a TLS verification code, …). */
  readonly reason: string;
  /** The API key id the failure was for (never the key). */
  readonly keyId?: string;
}

/**
 * The typed per-request annotations stages leave for each other and for the record stage. Each field has one
 * writer; values are bounded codes, counts and names from config, never request data or secrets.
 */
export interface RequestNotes {
  /** The deny reason (sanitised, bounded; server/respond.ts `safeReason`). */
  reason?: string;
  /** The ip-filter rule that decided (`deny_list`, `allow_list`, `dynamic_block`). */
  rule?: string;
  /** The incident whose block denied the request. */
  incident?: string;
  authFailure?: AuthFailure;
  /** The authentication method that was tried (even when it failed). */
  authMethod?: string;
  /** Name of the rate limit that refused the request. */
  rateLimit?: string;
  /** `locked`: refused by a lockout; `failed`: the upstream's answer was a failed login. */
  bruteForce?: 'locked' | 'failed';
  bruteForceDelayMs?: number;
  /** Why the response broke the contract (enforced or, in monitor mode, only logged). */
  responseViolation?: string;
  /** WAF hits of the request (family, rule id, sanitised field pointer; never the value). */
  waf?: readonly { readonly family: string; readonly rule: string; readonly field: string }[];
  /** A leak the WAF found in the upstream response (kind and rule id). */
  wafLeak?: { readonly kind: string; readonly rule: string };
  responseHeadersRemoved?: number;
  ownershipFiltered?: number;
  /** Error code of a response stream that failed after the headers were sent. */
  streamError?: string;
  /** The upstream target (`host:port`) that answered, or the last one tried. */
  upstreamTarget?: string;
  /** Tries sent upstream after the first (proxy/dispatch.ts). */
  retries?: number;
  /** Set once a WebSocket upgrade was accepted: the socket belongs to the relay, not to an HTTP response. */
  upgraded?: boolean;
  /** The close code a relayed WebSocket ended with. */
  websocketClose?: number;
  /** Set once the request's audit record was appended by the audit gate or the deny gate (the sink then skips it). */
  audited?: boolean;
}

/** What the gateway decided, for the access log, audit and metrics. */
export type Decision = 'allow' | 'deny' | 'error';

/**
 * A request's trace (tracing/, when `tracing.enabled`): its server span and the child spans the runner, the proxy
 * and the handler open. Undefined on every request when tracing is off, so no tracing code runs.
 */
export interface RequestTrace {
  /** The W3C trace id (32 hex digits), for the access log and the audit record. */
  readonly traceId: string;
  /** Names the server span after the matched route (`GET /users/{id}`). */
  routed(route: CompiledRoute): void;
  /** Opens a child span of the request's server span: a pipeline stage, `upstream` or `response`. */
  span(name: string, attributes?: Readonly<Record<string, string | number>>, client?: boolean): TraceSpan;
  /** Ends the server span with what the request came to. */
  finish(outcome: RequestOutcome): void;
}

/** A child span of a request's trace. */
export interface TraceSpan {
  /** `traceparent`/`tracestate` naming this span as the parent, for the upstream request. */
  propagation(): Record<string, string>;
  set(name: string, value: string | number): void;
  /** Ends the span; with the error that ended the stage (its code, never its message, goes on the span). */
  end(error?: unknown): void;
}

/**
 * Per-request state passed through the stages. Plain fields (no getters that do work) so the hot path stays cheap;
 * the body is buffered only when a stage asks for it, and then only up to the route's cap.
 */
export class RequestContext {
  readonly id: string;
  readonly req: ServerRequest;
  readonly res: ServerResponseLike;
  readonly startedAt: bigint;
  readonly secure: boolean;
  readonly method: string;
  /** Path as received (validated, still percent-encoded), without the API's base path stripped. */
  path = '/';
  /** Query string without the leading `?`, as received. */
  rawQuery = '';
  clientIp: string;
  route: CompiledRoute | undefined = undefined;
  params: Record<string, string> = {};
  identity: Identity | undefined = undefined;
  decision: Decision = 'allow';
  /** Error code that ended the request, when denied. */
  errorCode: string | undefined = undefined;
  /** Stage that denied, when denied. */
  deniedBy: string | undefined = undefined;
  upstreamStatus: number | undefined = undefined;
  /** Time spent waiting on the upstream, in nanoseconds. */
  upstreamNs = 0n;
  /** The host sent upstream as X-Forwarded-Host (from `listen.hosts` or the listener), set by normalisation. */
  forwardedHost: string | undefined = undefined;
  /** Set once the client went away (connection closed, HTTP/2 stream reset) before its response finished. */
  clientGone = false;
  /** Headers the credential stage sends upstream (a minted credential); they win over the client's. */
  upstreamHeaders: Record<string, string> | undefined = undefined;
  /** Client request headers the credential stage keeps from the upstream (the client's own credentials). */
  stripUpstreamHeaders: ReadonlySet<string> | undefined = undefined;
  /** Set by the credential stage when the gateway signs upstream requests (RFC 9421): the proxy signs each try as sent. */
  upstreamSigner: UpstreamRequestSigner | undefined = undefined;
  /** Headers policies add to the client response, success or error (e.g. rate-limit headers); set in finishHeaders. */
  responseHeaders: Record<string, string> | undefined = undefined;
  /**
   * Digests of the response body the client asked for with Want-Content-Digest (RFC 9530), set by the content-digest
   * stage: the send step adds them, as a header on a buffered body or a trailer on a streamed one.
   */
  responseDigests: ResponseDigestRequest | undefined = undefined;
  /** Set when the API signs its responses (RFC 9421): the send step signs the final status and headers. */
  responseSigner: ResponseSigner | undefined = undefined;
  /** What the stages learnt, for later stages and the record stage (access log, audit, metrics); never secrets. */
  readonly notes: RequestNotes = {};
  /**
   * Set while an open WebSocket's credential is checked again (proxy/websocket/): the request stages already ran on
   * the upgrade; a sender binding proven then (a DPoP proof, single-use and short-lived) is not asked for again.
   */
  revalidating = false;
  /** This request's trace, when tracing is on (set by the handler before any stage runs). */
  trace: RequestTrace | undefined = undefined;
  #body: Buffer | undefined;
  #bodyPromise: Promise<Buffer> | undefined;
  #query: URLSearchParams | undefined;

  constructor(req: ServerRequest, res: ServerResponseLike, id: string, clientIp: string, secure: boolean) {
    this.req = req;
    this.res = res;
    this.id = id;
    this.clientIp = clientIp;
    this.secure = secure;
    this.method = req.method ?? 'GET';
    this.startedAt = process.hrtime.bigint();
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(this.rawQuery));
  }

  /** Removes every `name` parameter from the query, both for later stages and for the request sent upstream. */
  removeQueryParam(name: string): void {
    // Filter the raw pairs rather than re-serialising: the other parameters reach the upstream byte for byte.
    this.rawQuery = this.rawQuery
      .split('&')
      .filter((pair) => new URLSearchParams(pair).keys().next().value !== name)
      .join('&');
    this.#query = undefined;
  }

  /** Puts back the query as received (an open WebSocket's credential check reads a query token again). */
  restoreQuery(rawQuery: string): void {
    this.rawQuery = rawQuery;
    this.#query = undefined;
  }

  /** The body if a stage has already buffered it. */
  get bufferedBody(): Buffer | undefined {
    return this.#body;
  }

  /** Replaces the buffered body (a stage that rewrites it, e.g. field encryption): later stages and the proxy get this one. */
  replaceBody(body: Buffer): void {
    this.#body = body;
    this.#bodyPromise = Promise.resolve(body);
  }

  /** Whether the request carries a body (by its framing headers). */
  get hasBody(): boolean {
    const length = this.req.headers['content-length'];
    if (length !== undefined) return length !== '0';
    if (this.req.headers['transfer-encoding'] !== undefined) return true;
    // HTTP/2 has no framing headers: a request without a body ends its stream with the HEADERS frame.
    return 'stream' in this.req ? !this.req.stream.endAfterHeaders : false;
  }

  /**
   * Buffers the request body, up to `limit` bytes (413 past it). Idempotent: later calls get the same buffer. The
   * proxy then sends the buffer upstream instead of streaming.
   */
  readBody(limit: number): Promise<Buffer> {
    if (this.#body) return Promise.resolve(this.#body);
    this.#bodyPromise ??= new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const req = this.req;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          cleanup();
          req.resume();
          reject(new GatewayError('payload_too_large', `request body exceeded ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanup();
        this.#body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        resolve(this.#body);
      };
      const onError = (error: Error) => {
        cleanup();
        reject(new GatewayError('bad_request', 'request body stream failed', { cause: error }));
      };
      // An HTTP/2 stream reset mid-body emits neither `end` nor `error`, only `close`: without this the request
      // (and its chunks) would wait forever, one leak per reset stream.
      const onClose = () => {
        cleanup();
        reject(new GatewayError('bad_request', 'client went away before the body ended'));
      };
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      if (this.clientGone || req.destroyed) {
        reject(new GatewayError('bad_request', 'client went away before the body was read'));
        return;
      }
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
    return this.#bodyPromise;
  }
}

/**
 * The fixed order of per-route request stages (DESIGN.md §3, stages 4–10, with the request limits of stage 1 that
 * depend on the route first). Policies declare their stage; compile sorts by this order; nothing can reorder it.
 */
export const REQUEST_STAGES = [
  'limits',
  'ip_filter',
  'pre_auth_rate_limit',
  'authenticate',
  'post_auth_rate_limit',
  'authorize',
  'validate',
  'waf',
  'credential',
] as const;

export type RequestStage = (typeof REQUEST_STAGES)[number];

/** A compiled request policy for one route. `run` denies by throwing a GatewayError; any other throw is a 500. */
export interface RequestPolicy {
  readonly name: string;
  readonly stage: RequestStage;
  run(ctx: RequestContext): void | Promise<void>;
}

/**
 * The fixed order of response stages (DESIGN.md §3 stage 12), run after the proxy on the upstream's answer:
 * `outcome` reacts to the upstream's verdict as it was sent (login failures counted), `ownership` judges the full
 * body (BOLA on reads), `contract` minimises the body, `headers` minimises the headers, and `audit_gate` holds the
 * answer until its audit record is durable, so it sees the final status.
 */
export const RESPONSE_STAGES = ['outcome', 'ownership', 'contract', 'headers', 'audit_gate'] as const;

export type ResponseStage = (typeof RESPONSE_STAGES)[number];

/** The upstream response as response policies see it. `body` is present only if some policy asked to buffer it. */
export interface ProxiedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | undefined;
}

/**
 * What the proxy returns: `body` when the route's response stages need it buffered, else `stream` (never both).
 * Whoever holds it must send `stream` on or discard it, so the upstream connection is released.
 */
export interface UpstreamResponse extends ProxiedResponse {
  stream: Readable | undefined;
}

/** Signs a response as it is sent: adds `Signature-Input` and `Signature` (and `Content-Digest` for a buffered body) to `headers`. */
export interface ResponseSigner {
  sign(status: number, headers: OutgoingHttpHeaders, body: Buffer | undefined): void;
}

/** What a client asked to get digests of (RFC 9530 §4): `Content-Digest` and/or `Repr-Digest`, one algorithm each. */
export interface ResponseDigestRequest {
  readonly content: 'sha-256' | 'sha-512' | undefined;
  readonly repr: 'sha-256' | 'sha-512' | undefined;
}

/**
 * A compiled response policy (stage 12). Policies with `needsBody` make the proxy buffer the upstream body (up to
 * the route's response cap) before they run.
 */
export interface ResponsePolicy {
  readonly name: string;
  readonly stage: ResponseStage;
  readonly needsBody: boolean;
  /** The operation's declared `text/event-stream` answer: such a response streams, checked event by event. */
  readonly eventStream?: EventStreamContract;
  run(ctx: RequestContext, response: ProxiedResponse): void | Promise<void>;
}

/**
 * How a declared event stream is checked (the response contract builds it): per event, the `data` (JSON) against
 * the declared schema, minimised like a JSON body. Without a schema the stream passes as sent.
 */
export interface EventStreamContract {
  /** Checks and minimises one event's parsed data; a violation reason, or undefined with the value to send. */
  check?(data: unknown): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };
  /** `monitor`: a violation is logged and the event passed as sent; `enforce`: the stream is cut. */
  readonly monitor: boolean;
  /** Largest event accepted (bytes); a longer one is a violation. */
  readonly maxEventBytes: number;
}

/** Called once per finished request (stage 13) with its outcome: access log, audit, metrics, monitor. Must not throw or block. */
export interface RecordSink {
  record(outcome: RequestOutcome): void;
}

const STAGE_INDEX = new Map<string, number>([...REQUEST_STAGES.map((s, i) => [s, i] as const), ...RESPONSE_STAGES.map((s, i) => [s, i] as const)]);

/** Sorts request or response policies into their fixed stage order (stable within a stage). */
export function orderPolicies<P extends RequestPolicy | ResponsePolicy>(policies: readonly P[]): P[] {
  const index = (p: P) => STAGE_INDEX.get(p.stage) ?? Number.MAX_SAFE_INTEGER;
  return [...policies].sort((a, b) => index(a) - index(b));
}

/** Everything the data plane needs for one operation, built once at compile time. */
export interface CompiledRoute {
  readonly api: ApiConfig;
  readonly operationId: string;
  readonly method: string;
  /** The template as matched (with servers base path), for logs and metrics: never the raw path. */
  readonly template: string;
  /** The spec operation, absent on passthrough APIs. */
  readonly operation: SpecOperation | undefined;
  readonly upstreamName: string;
  readonly upstream: UpstreamConfig;
  readonly maxBodyBytes: number;
  /** Accepted request media types (lower-case, no parameters); empty set = no body expected. */
  readonly contentTypes: ReadonlySet<string>;
  readonly cors: RouteCors | undefined;
  /** Request policies in stage order. */
  readonly policies: readonly RequestPolicy[];
  readonly responsePolicies: readonly ResponsePolicy[];
  /** Whether any response policy needs the upstream body buffered. */
  readonly buffersResponse: boolean;
  /** Answers the request in place of the upstream (endpoints Rampart serves itself, e.g. self-service keys). */
  readonly local?: (ctx: RequestContext) => Promise<UpstreamResponse>;
  /** WebSocket upgrades accepted on this route, with their bounds (proxy/websocket/). */
  readonly websocket?: RouteWebSocket;
  /** The operation's declared event stream (from its response policies), streamed even when the route buffers. */
  readonly eventStream?: EventStreamContract;
}

/** A route's WebSocket settings, API and operation levels merged over the defaults (proxy/websocket/route.ts). */
export interface RouteWebSocket {
  readonly allowOrigins: ReadonlySet<string>;
  readonly maxMessageBytes: number;
  readonly idleTimeoutMs: number;
  readonly messagesPerSecond: number;
  readonly burst: number;
  readonly recheckMs: number;
  readonly maxConnections: number;
}

/** A compiled CORS allowlist for one route (built by the cors policy). */
export interface RouteCors {
  /** Headers for a preflight from `origin` asking for `method`, or undefined when it is not allowed. */
  preflight(origin: string, method: string, requestedHeaders: string | undefined): Record<string, string> | undefined;
  /** Headers to add to an actual response for `origin` (empty when the origin is not allowed). */
  responseHeaders(origin: string | undefined): Readonly<Record<string, string>>;
}

/** The security headers every response carries (built by the headers policy). */
export interface SecurityHeaders {
  readonly tls: Readonly<Record<string, string>>;
  readonly plain: Readonly<Record<string, string>>;
  /** Lower-case upstream response headers to drop (banners). */
  readonly remove: ReadonlySet<string>;
}

/**
 * Shared services that compiled policies may use (stores, counters, key caches). Built once per gateway process
 * and reused across reloads; policies receive them at compile time, never look them up per request.
 */
export interface Services {
  readonly logger: Logger;
  /** Security event bus (auth failures, lockouts, rate limits, key lifecycle): emit here, never throw. */
  readonly events?: SecurityEvents;
  /** The audit trail: `append({ type, fields })` for admin actions and key lifecycle (queued, group-committed). */
  readonly audit?: AuditTrail;
  /** Dynamic IP blocks placed by incident response (enforced by the ip-filter policy). */
  readonly blocks?: DynamicBlocks;
  /** Rate-limit and brute-force counters (memory or Redis, with a local fallback). */
  readonly counters?: Counters;
  /** Consumers, API keys (hashed) and admin events (SQLite or PostgreSQL). */
  readonly store?: Store;
  /** API key verification with its cache, batched last-use and cross-instance invalidation. */
  readonly apiKeys?: ApiKeyVerification;
  /** Store-backed RFC 9421 signature keys (`apis[].auth.signatures.store_keys`), cached, invalidated over the bus. */
  readonly signatureKeys?: SignatureKeyDirectory;
  /** The proxy's upstream keep-alive pools, for policies that call the route's upstream themselves (owner lookups). */
  readonly upstreams?: UpstreamPoolSource;
  /** Signs the identity assertion sent upstream; owner lookups send it as the proxy does. */
  readonly identity?: IdentitySigner;
  /** Issues and revokes keys on a caller's behalf (self-service keys), recording each action; the control plane's actions. */
  readonly keyIssuer?: KeyIssuer;
}

/*
 * The services as policies use them. The implementations live above the pipeline (audit/log.ts, monitor/blocks.ts,
 * policies/authn-apikey/verifier.ts) and satisfy these shapes; the pipeline names only the shapes.
 */

/** What callers append to the audit trail: a record type (e.g. `request.denied`, `key.revoked`) and its fields. */
export interface AuditEvent {
  readonly type: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The audit trail (audit/log.ts `AuditLog`). */
export interface AuditTrail {
  /** Queues a record; false when the queue is full and the record was refused. */
  append(event: AuditEvent): boolean;
  /** Resolves when everything appended so far is durable; rejects when that batch failed. */
  durable(): Promise<void>;
}

/** Dynamic IP blocks placed by incident response (monitor/blocks.ts `IpBlocks`). */
export interface DynamicBlocks {
  isBlocked(ip: string): { readonly reason: string; readonly incidentId?: string } | undefined;
}

/** Why a presented API key was refused. */
export type ApiKeyRejectReason = 'malformed' | 'unknown' | 'mismatch' | 'revoked' | 'suspended' | 'expired' | 'rotated' | 'no_consumer';

/** The verdict on a presented API key. */
export type ApiKeyVerdict =
  | { readonly ok: true; readonly key: ApiKeyRecord; readonly consumer: Consumer }
  | { readonly ok: false; readonly reason: ApiKeyRejectReason; readonly keyId?: string };

/** API key verification (policies/authn-apikey/verifier.ts `ApiKeyVerifier`). */
export interface ApiKeyVerification {
  verify(presented: string): Promise<ApiKeyVerdict>;
}

/** A signature key ready to verify with (policies/authn-signature/keys.ts `VerificationKey` has this shape). */
export interface SignatureVerifier {
  readonly keyid: string;
  readonly consumer: string;
  readonly algorithm: string;
  readonly scopes: readonly string[];
  verify(base: Buffer, signature: Buffer): boolean;
}

/**
 * Why a store lookup of a keyid gave no usable key: none by that id, revoked, its consumer gone, its stored key
 * material unusable, or the process's budget of lookups for keyids it has never seen spent (a flood of invented
 * keyids).
 */
export type SignatureKeyRejectReason = 'unknown' | 'revoked' | 'no_consumer' | 'unusable' | 'lookup_budget';

export type SignatureKeyVerdict =
  | { readonly ok: true; readonly key: SignatureVerifier; readonly consumer: Consumer }
  | { readonly ok: false; readonly reason: SignatureKeyRejectReason };

/** The store's signature keys (policies/authn-signature/store-keys.ts `StoreSignatureKeys`). Rejects when the store fails. */
export interface SignatureKeyDirectory {
  find(keyid: string): Promise<SignatureKeyVerdict>;
}

/** What a policy factory sees when compiling one route. */
export interface PolicyBuildInput {
  readonly config: RampartConfig;
  readonly api: ApiConfig;
  /** Index of `api` in `config.apis`, for config paths in errors. */
  readonly apiIndex: number;
  readonly operationId: string;
  readonly method: string;
  /** Undefined for passthrough APIs. */
  readonly operation: SpecOperation | undefined;
  /** The API's whole spec (to resolve operations a policy refers to); undefined for passthrough APIs. */
  readonly spec?: LoadedSpec;
  readonly maxBodyBytes: number;
  readonly contentTypes: ReadonlySet<string>;
  readonly services: Services;
  /** The login routes of the table being compiled: the brute-force factory registers its route here. */
  readonly logins?: Map<string, LoginRegistration>;
  /** Records a configuration warning (accepted, but weaker than it should be) under its config path: `check` prints it, start-up logs it. */
  readonly warn?: (path: string, message: string) => void;
}

/**
 * A policy's own setting on every API, `apis[].<key>`, declared in its registry entry: the config schema includes
 * it from the registry (config/schema.ts), so a new policy needs no line outside its folder and the registry.
 */
export interface PolicySetting {
  readonly key: string;
  /** JSON Schema of the value, with its default (the loader validates and fills it like every other setting). */
  readonly schema: Readonly<Record<string, unknown>>;
}

/**
 * A policy folder's entry point: given a route, returns the compiled policy for it, or undefined when the policy
 * does not apply. Factories validate what the schema cannot and throw a ConfigIssueError naming the config path;
 * they do all setup here so the per-request function does none.
 */
export interface PolicyFactory {
  readonly name: string;
  readonly setting?: PolicySetting;
  /** `setting` is the API's value of the factory's own setting (validated and defaulted by its schema). */
  build(input: PolicyBuildInput, setting?: unknown): CompiledPolicies | undefined;
}

/** What one factory call compiled for a route: request and/or response policies that may share state. */
export interface CompiledPolicies {
  readonly request?: RequestPolicy | readonly RequestPolicy[] | undefined;
  readonly response?: ResponsePolicy | readonly ResponsePolicy[] | undefined;
}

/** The proxy's keep-alive pools (proxy/pools.ts), as policies that call an upstream themselves use them. */
export interface UpstreamPoolSource {
  get(name: string, config: UpstreamConfig): Pool;
}

/** The control-plane actions self-service keys need (admin/api/actions.ts implements them, with admin events). */
export interface KeyIssuer {
  readonly store: Store;
  createConsumer(actor: string, input: NewConsumer): Promise<Consumer>;
  updateConsumer(actor: string, id: string, patch: ConsumerPatch): Promise<Consumer>;
  createKey(actor: string, input: { readonly consumerId: string; readonly scopes: readonly string[]; readonly expiresAt: number; readonly metadata: Readonly<Record<string, unknown>> }): Promise<{ key: string; record: ApiKeyRecord }>;
  revokeKey(actor: string, id: string): Promise<ApiKeyRecord>;
}

/** An upstream request as the proxy sends it, for its signature: method, origin, target and final headers. */
export interface UpstreamRequestToSign {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** The upstream target's `host[:port]`. */
  readonly authority: string;
  /** Path and query as sent upstream. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string | string[]>>;
}

/** Signs upstream requests (policies/authn-signature: HTTP Message Signatures); returns the headers to add. */
export interface UpstreamRequestSigner {
  sign(request: UpstreamRequestToSign): Record<string, string>;
}

/** Signs the identity assertion sent upstream (proxy/identity.ts); undefined headers when identity is off. */
export interface IdentitySigner {
  headersFor(ctx: RequestContext, upstreamName: string, config: IdentityConfig): Promise<Record<string, string> | undefined>;
}

/**
 * Everything the compiler builds policies with, passed in by the composition root (server/gateway.ts) so the
 * pipeline imports no policy: the factories (one per policy folder) and the builders of the route-level CORS
 * allowlist and the table-wide security headers.
 */
export interface PolicyRegistry {
  readonly factories: readonly PolicyFactory[];
  /** Operations Rampart serves itself on an API (self-service keys), each with its endpoint. */
  localOperations?(api: ApiConfig, apiIndex: number, spec: LoadedSpec, services: Services): readonly { readonly operation: SpecOperation; readonly local: (ctx: RequestContext) => Promise<UpstreamResponse> }[];
  cors(config: CorsConfig, routeMethods: readonly string[]): RouteCors;
  securityHeaders(config: SecurityHeadersConfig): SecurityHeaders;
  /** A route's WebSocket settings (API and operation levels merged), undefined when it takes no upgrades. */
  websocket?(method: string, api: ApiConfig, operationId: string, operation: SpecOperation | undefined): RouteWebSocket | undefined;
}

/** What every record of a finished request shares (access log line, audit record): ids, route template, verdict. */
export interface RequestSummary {
  readonly requestId: string;
  readonly method: string;
  readonly api: string | undefined;
  readonly operationId: string | undefined;
  /** The route template, never the raw path (it can carry ids and tokens). */
  readonly route: string | undefined;
  readonly status: number;
  readonly decision: Decision;
  readonly stage: string | undefined;
  readonly code: string | undefined;
  readonly reason: string | undefined;
  /** The W3C trace id, when tracing is on (to find the request's trace from its log line or audit record). */
  readonly traceId: string | undefined;
}

/** The shared summary of a request answered with `status` (stage 13). */
export function requestSummary(ctx: RequestContext, status: number): RequestSummary {
  const route = ctx.route;
  return {
    requestId: ctx.id,
    method: ctx.method,
    api: route?.api.name,
    operationId: route?.operationId,
    route: route?.template,
    status,
    decision: ctx.decision,
    stage: ctx.deniedBy,
    code: ctx.errorCode,
    reason: ctx.notes.reason,
    traceId: ctx.trace?.traceId,
  };
}

/** Just the {@link RequestSummary} fields of `o` (an outcome carries more), for records that share them. */
export function summaryOf(o: RequestSummary): RequestSummary {
  return { requestId: o.requestId, method: o.method, api: o.api, operationId: o.operationId, route: o.route, status: o.status, decision: o.decision, stage: o.stage, code: o.code, reason: o.reason, traceId: o.traceId };
}

/**
 * What a finished (or about to be answered) request was: built once per request at stage 13 by `outcomeOf` and given
 * to every record sink, so the access log, audit, metrics and monitor read one typed record instead of the context.
 */
export interface RequestOutcome extends RequestSummary {
  /** The compiled route, when one matched. */
  readonly compiled: CompiledRoute | undefined;
  readonly clientIp: string;
  readonly identity: Identity | undefined;
  /** Path parameter values (ids of the object asked for), or the normalised path on passthrough routes. */
  readonly objectId: string;
  /** From the request's start to this record, and the part spent waiting for the upstream (ns). */
  readonly totalNs: bigint;
  readonly upstreamNs: bigint;
  /** The upstream's status, when it answered. */
  readonly upstreamStatus: number | undefined;
  readonly httpVersion: string;
  /** What the stages learnt (never secrets); the same notes the stages wrote. */
  readonly notes: Readonly<RequestNotes>;
}

/** The outcome of `ctx` answered with `status`. */
export function outcomeOf(ctx: RequestContext, status: number): RequestOutcome {
  const route = ctx.route;
  return {
    ...requestSummary(ctx, status),
    compiled: route,
    clientIp: ctx.clientIp,
    identity: ctx.identity,
    objectId: route?.template === '*' ? ctx.path : Object.values(ctx.params).join('/'),
    totalNs: process.hrtime.bigint() - ctx.startedAt,
    upstreamNs: ctx.upstreamNs,
    upstreamStatus: ctx.upstreamStatus,
    httpVersion: ctx.req.httpVersion,
    notes: ctx.notes,
  };
}
