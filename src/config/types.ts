import type { WafConfig } from '../policies/waf/schema.ts';
import type { AuditConfig } from '../audit/schema.ts';
import type { TracingConfig } from '../tracing/schema.ts';
import type { WebSocketConfig } from '../proxy/websocket/schema.ts';
import type { HealthCheckConfig, OutlierConfig, RetryConfig, UpstreamTarget } from '../proxy/balancer/schema.ts';
import type { CountersConfig } from '../counters/schema.ts';
import type { RateLimitConfig } from '../policies/ratelimit/schema.ts';
import type { ConcurrencyConfig } from '../policies/concurrency/schema.ts';
import type { BruteForceConfig, LoginConfig } from '../policies/bruteforce/schema.ts';
import type { FailureBackoffConfig } from '../policies/authn/failure-backoff-schema.ts';
import type { MonitorConfig } from '../monitor/schema.ts';
import type { IpFilterConfig } from '../policies/ip-filter/schema.ts';
import type { StoreConfig } from '../store/schema.ts';
import type { ApiKeyAuthConfig, AuthKeysConfig } from '../policies/authn-apikey/schema.ts';
import type { AdminConfig } from '../admin/api/schema.ts';
import type { MtlsAuthConfig } from '../policies/authn-mtls/schema.ts';
import type { SignatureAuthConfig } from '../policies/authn-signature/schema.ts';
import type { UpstreamCredentialConfig } from '../policies/upstream-credential/schema.ts';
import type { StepUpConfig } from '../policies/step-up/schema.ts';
import type { PasswordPolicyConfig } from '../policies/password-policy/schema.ts';
import type { SelfServiceKeysConfig } from '../policies/self-service-keys/schema.ts';
import type { SenderConstraintConfig } from '../policies/authn-dpop/schema.ts';
import type { ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS } from '../policies/authn-jwt/schema.ts';
/** Types of the validated, defaulted and frozen config. They mirror `schema.ts`. */

export interface CorsConfig {
  readonly allow_origins: readonly string[];
  readonly allow_methods?: readonly ('GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE')[];
  readonly allow_headers: readonly string[];
  readonly expose_headers: readonly string[];
  readonly allow_credentials: boolean;
  readonly max_age_seconds: number;
}

export interface OperationOverrides {
  readonly websocket?: WebSocketConfig;
  readonly max_body_bytes?: number;
  readonly content_types?: readonly string[];
  readonly cors?: CorsConfig;
  /** Roles for function-level authorization (any one suffices). */
  readonly roles?: readonly string[];
  readonly rate_limits?: readonly RateLimitConfig[];
  readonly concurrency?: ConcurrencyConfig;
  readonly login?: LoginConfig;
  /** Step-up authentication (RFC 9470); wins over `x-rampart-auth`. */
  readonly step_up?: StepUpConfig;
  /** Overrides `auth.sender_constraint.mode` for this operation. */
  readonly sender_constraint?: 'allowed' | 'required';
  /** Ownership check of an object the request references (see docs/authorization.md); wins over `x-rampart-owner-lookup`. */
  readonly owner_lookup?: OwnerLookupConfig;
}

/** `apis[].validation`: strict request validation. */
export interface ValidationConfig {
  readonly additional_properties: 'reject' | 'allow';
  readonly readonly_in_requests: 'reject' | 'allow';
  readonly max_string_length: number;
  readonly max_array_items: number;
  readonly max_depth: number;
  readonly max_object_keys: number;
  readonly max_json_tokens: number;
  readonly max_part_bytes: number;
  readonly max_parts: number;
}

/** `apis[].response`: response minimisation. */
export interface ResponseContractConfig {
  readonly mode: 'enforce' | 'monitor' | 'off';
  readonly max_body_bytes: number;
  readonly allow_headers: readonly string[];
  readonly sensitive_fields: Readonly<Record<string, 'mask' | 'drop'>>;
  readonly event_streams: 'declared' | 'passthrough';
}

/** One `apis[].owner_rules` entry: a CEL string or the long form. */
export type OwnerRuleConfig =
  | string
  | {
      readonly request?: string;
      readonly response?: string;
      readonly filter?: string;
      readonly every?: string;
      readonly deny_status: 403 | 404;
    };

/** `apis[].operations.<id>.owner_lookup` (or `x-rampart-owner-lookup`): a referenced object fetched as the caller, then a CEL rule on it. */
export interface OwnerLookupConfig {
  /** Where the referenced id is: `body.<field>[.<field>…]`, `params.<name>` or `query.<name>`. */
  readonly from: string;
  /** operationId of the GET operation (same spec) that reads the object. */
  readonly operation: string;
  /** Path parameter of `operation` the id fills; defaults to its only one. */
  readonly param?: string;
  /** CEL over `object`, `request`, `identity`, `now`; must be true. */
  readonly rule: string;
  readonly deny_status: 403 | 404;
  /** Timeout of the whole lookup call, in ms. */
  readonly timeout_ms: number;
  /** How long a looked-up object is reused for the same identity, in seconds (0 disables). */
  readonly cache_seconds: number;
}

/** A signature algorithm an issuer may be configured with. */
export type JwtAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number] | (typeof HMAC_ALGORITHMS)[number];

/** One `apis[].auth.jwt.issuers[]` entry (see src/policies/authn-jwt/schema.ts). */
export interface JwtIssuerConfig {
  readonly issuer: string;
  readonly audience?: string | readonly string[];
  /** Claims every token must carry (always `exp` and `sub`). */
  readonly require: readonly ('iss' | 'aud' | 'exp' | 'iat' | 'sub' | 'nbf' | 'jti')[];
  readonly discovery_url?: string;
  readonly jwks_url?: string;
  /** Static public keys: JWK objects or PEM text (resolved from `${file:…}`). */
  readonly keys?: readonly (string | (Readonly<Record<string, unknown>> & { readonly kty: string }))[];
  /** HMAC secret (resolved from its reference; `base64:`/`base64url:`/`hex:` prefixes give bytes). */
  readonly secret?: string;
  readonly allow_weak_secret: boolean;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly max_token_age_seconds: number;
  readonly clock_skew_seconds: number;
  readonly required_typ?: string;
  readonly jwks_cache_max_age_seconds: number;
  readonly jwks_cooldown_seconds: number;
  readonly fetch_timeout_ms: number;
  readonly scope_claim: string;
  readonly roles_claim: string;
  readonly tenant_claim: string;
  readonly consumer_claim: string;
}

/** `apis[].auth.jwt`. */
export interface JwtConfig {
  readonly issuers: readonly JwtIssuerConfig[];
  readonly token_sources: readonly ('header' | 'query')[];
  readonly max_token_bytes: number;
}

/** `apis[].auth.introspection` (RFC 7662). */
export interface IntrospectionConfig {
  readonly endpoint: string;
  readonly client_id: string;
  /** Resolved from its reference. */
  readonly client_secret: string;
  readonly audience?: string | readonly string[];
  readonly issuer?: string;
  readonly cache_ttl_seconds: number;
  readonly negative_cache_seconds: number;
  readonly cache_max_entries: number;
  readonly timeout_ms: number;
  readonly clock_skew_seconds: number;
  readonly max_token_bytes: number;
}

/** `apis[].auth`. */
export interface AuthConfig {
  /** Passthrough APIs: every request must authenticate (default true). */
  readonly required: boolean;
  readonly jwt?: JwtConfig;
  readonly introspection?: IntrospectionConfig;
  readonly api_keys?: ApiKeyAuthConfig;
  readonly mtls?: MtlsAuthConfig;
  readonly signatures?: SignatureAuthConfig;
  readonly sender_constraint: SenderConstraintConfig;
  readonly failure_backoff: FailureBackoffConfig;
}

/** `identity`: the signed identity assertion sent upstream. */
export interface IdentityConfig {
  readonly enabled: boolean;
  /** PKCS#8 PEM (resolved from its reference). */
  readonly signing_key?: string;
  readonly header: string;
  readonly issuer: string;
  readonly ttl_seconds: number;
  readonly rotate_hours: number;
}

export interface ApiConfig {
  readonly name: string;
  readonly spec?: string;
  readonly upstream: string;
  readonly base_path: string;
  readonly passthrough: boolean;
  /** Absent: `limits.max_body_bytes`. */
  readonly max_body_bytes?: number;
  readonly content_types?: readonly string[];
  readonly cors?: CorsConfig;
  readonly auth?: AuthConfig;
  readonly rate_limits?: readonly RateLimitConfig[];
  readonly concurrency?: ConcurrencyConfig;
  readonly brute_force: BruteForceConfig;
  readonly validation: ValidationConfig;
  readonly waf: WafConfig;
  readonly response: ResponseContractConfig;
  /** CEL rules by operationId. */
  readonly rules: Readonly<Record<string, string>>;
  readonly owner_rules: Readonly<Record<string, OwnerRuleConfig>>;
  readonly operations: Readonly<Record<string, OperationOverrides>>;
  readonly websocket?: WebSocketConfig;
  readonly upstream_credential?: UpstreamCredentialConfig;
  readonly password_policy: PasswordPolicyConfig;
  readonly self_service_keys: SelfServiceKeysConfig;
}

export interface UpstreamConfig {
  /** One instance; absent when `targets` lists several (read both through `targetsOf`). */
  readonly url?: string;
  readonly targets?: readonly UpstreamTarget[];
  readonly balance: 'round_robin' | 'least_requests';
  readonly health_check?: HealthCheckConfig;
  readonly outlier: OutlierConfig;
  readonly retries: RetryConfig;
  readonly connect_timeout_ms: number;
  readonly headers_timeout_ms: number;
  readonly body_timeout_ms: number;
  readonly connections: number;
  readonly keep_alive_timeout_ms: number;
  readonly tls?: UpstreamTlsConfig;
}

export interface HttpsListenerConfig {
  readonly port: number;
  readonly host: string;
  readonly cert: string;
  readonly key: string;
  readonly self_signed: boolean;
  readonly min_version: 'TLSv1.2' | 'TLSv1.3';
  readonly http2: boolean;
  /** Absolute path of the client CA bundle (its `${file:…}` reference is kept as a path so it can be reloaded). */
  readonly client_ca?: string;
}

export interface HttpListenerConfig {
  readonly port: number;
  readonly host: string;
  readonly insecure: boolean;
}

export interface LimitsConfig {
  readonly max_url_length: number;
  readonly max_header_bytes: number;
  readonly max_body_bytes: number;
  readonly headers_timeout_ms: number;
  readonly request_timeout_ms: number;
  readonly keep_alive_timeout_ms: number;
  readonly http2_max_resets: number;
}

export interface SecurityHeadersConfig {
  readonly hsts_max_age_seconds: number;
  readonly hsts_include_subdomains: boolean;
  readonly content_security_policy: string;
  readonly referrer_policy: string;
  readonly remove_response_headers: readonly string[];
}

export interface RampartConfig {
  readonly listen: {
    readonly https?: HttpsListenerConfig;
    readonly http?: HttpListenerConfig;
    readonly admin: { readonly port: number; readonly host: string };
    readonly hosts?: readonly string[];
  };
  readonly trusted_proxies: readonly string[];
  readonly limits: LimitsConfig;
  readonly security_headers: SecurityHeadersConfig;
  readonly identity: IdentityConfig;
  readonly store: StoreConfig;
  readonly auth_keys: AuthKeysConfig;
  readonly admin: AdminConfig;
  readonly counters: CountersConfig;
  readonly plans: Readonly<Record<string, readonly RateLimitConfig[]>>;
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly apis: readonly ApiConfig[];
  readonly logging: { readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; readonly access_log: boolean };
  readonly shutdown: { readonly drain_timeout_ms: number };
  readonly tracing: TracingConfig;
  readonly audit: AuditConfig;
  readonly monitor: MonitorConfig;
  readonly ip_filter: IpFilterConfig;
}

/** `upstreams.<name>.tls`, with `ca`/`cert`/`key` as absolute file paths (the loader keeps them as paths). */
export interface UpstreamTlsConfig {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
}
