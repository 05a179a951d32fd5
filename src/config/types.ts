/** Types of the validated, defaulted and frozen config. They mirror `schema.ts`. */

export interface CorsConfig {
  readonly allow_origins: readonly string[];
  readonly allow_methods?: readonly string[];
  readonly allow_headers: readonly string[];
  readonly expose_headers: readonly string[];
  readonly allow_credentials: boolean;
  readonly max_age_seconds: number;
}

export interface OperationOverrides {
  readonly max_body_bytes?: number;
  readonly content_types?: readonly string[];
  readonly cors?: CorsConfig;
}

export interface ApiConfig {
  readonly name: string;
  readonly spec?: string;
  readonly upstream: string;
  readonly base_path: string;
  readonly passthrough: boolean;
  readonly max_body_bytes: number;
  readonly content_types?: readonly string[];
  readonly cors?: CorsConfig;
  readonly operations: Readonly<Record<string, OperationOverrides>>;
}

export interface UpstreamConfig {
  readonly url: string;
  readonly connect_timeout_ms: number;
  readonly headers_timeout_ms: number;
  readonly body_timeout_ms: number;
  readonly connections: number;
  readonly keep_alive_timeout_ms: number;
}

export interface HttpsListenerConfig {
  readonly port: number;
  readonly host: string;
  readonly cert: string;
  readonly key: string;
  readonly self_signed: boolean;
  readonly min_version: 'TLSv1.2' | 'TLSv1.3';
  readonly http2: boolean;
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
  };
  readonly trusted_proxies: readonly string[];
  readonly limits: LimitsConfig;
  readonly security_headers: SecurityHeadersConfig;
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly apis: readonly ApiConfig[];
  readonly logging: { readonly level: string; readonly access_log: boolean };
  readonly shutdown: { readonly drain_timeout_ms: number };
}
