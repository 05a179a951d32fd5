import { durationMs, mediaTypeList, secretRef } from './refs.ts';
import { limitsSchema } from '../policies/limits/schema.ts';
import { securityHeadersSchema } from '../policies/headers/schema.ts';
import { corsSchema } from '../policies/cors/schema.ts';
import { countersSchema } from '../counters/schema.ts';
import { plansSchema, rateLimitListSchema } from '../policies/ratelimit/schema.ts';
import { concurrencySchema } from '../policies/concurrency/schema.ts';
import { bruteForceSchema, loginSchema } from '../policies/bruteforce/schema.ts';
import { upstreamCredentialSchema } from '../policies/upstream-credential/schema.ts';
import { stepUpSchema } from '../policies/step-up/schema.ts';
import { passwordPolicySchema } from '../policies/password-policy/schema.ts';
import { selfServiceKeysSchema } from '../policies/self-service-keys/schema.ts';
import { auditSchema } from '../audit/schema.ts';
import { monitorSchema } from '../monitor/schema.ts';
import { ipFilterSchema } from '../policies/ip-filter/schema.ts';
import { authSchema } from '../policies/authn/schema.ts';
import { identitySchema } from '../proxy/identity-schema.ts';
import { validationSchema } from '../policies/validate/schema.ts';
import { wafSchema } from '../policies/waf/schema.ts';
import { responseSchema } from '../policies/response/schema.ts';
import { ownerLookupSchema, ownerRulesSchema, rolesSchema, rulesSchema } from '../policies/authz/schema.ts';
import { storeSchema } from '../store/schema.ts';
import { authKeysSchema } from '../policies/authn-apikey/schema.ts';
import { adminSchema } from '../admin/api/schema.ts';
import { tracingSchema } from '../tracing/schema.ts';
import { balancerProperties, UPSTREAM_URL_PATTERN } from '../proxy/balancer/schema.ts';
import { websocketSchema } from '../proxy/websocket/schema.ts';
import { POLICY_FACTORIES } from '../policies/index.ts';

const port = (def: number) => ({ type: 'integer', minimum: 0, maximum: 65535, default: def, description: 'TCP port (0 picks a free one).' }) as const;
const host = (def: string) => ({ type: 'string', minLength: 1, maxLength: 255, default: def, description: 'Address to bind.' }) as const;
const NAME = '^[a-z][a-z0-9_-]{0,62}$';
const cidr = { type: 'string', pattern: '^[0-9a-fA-F:.]+(/[0-9]{1,3})?$' } as const;

const httpsListener = {
  type: 'object',
  additionalProperties: false,
  required: ['cert', 'key'],
  description: 'The TLS listener (HTTP/1.1 and HTTP/2 by ALPN). Certificate files are reloaded when they change.',
  properties: {
    port: port(8443),
    host: host('0.0.0.0'),
    cert: { type: 'string', minLength: 1, description: 'Certificate chain (PEM): a path or `${file:path}`.' },
    key: { ...secretRef, description: 'Private key (PEM): must be a `${file:path}` or `${env:NAME}` reference.' },
    self_signed: {
      type: 'boolean',
      default: false,
      description: 'Generate a self-signed localhost certificate at `cert`/`key` when those files do not exist (development).',
    },
    min_version: { enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'Lowest TLS version accepted.' },
    http2: { type: 'boolean', default: true, description: 'Offer HTTP/2 by ALPN.' },
    client_ca: {
      type: 'string',
      pattern: '^\\$\\{file:[^}]+\\}$',
      description: 'CA bundle (PEM) for client certificates (mTLS): `${file:certs/clients-ca.pem}`. Certificates are requested but not required at the handshake; `apis[].auth.mtls` decides per route.',
    },
  },
} as const;

const httpListener = {
  type: 'object',
  additionalProperties: false,
  description: 'The plain HTTP listener. It only answers 308 redirects to HTTPS unless `insecure` is set.',
  properties: {
    port: port(8080),
    host: host('0.0.0.0'),
    insecure: {
      type: 'boolean',
      default: false,
      description: 'Serve the API over plain HTTP (loopback development only: the host must be a loopback address).',
    },
  },
} as const;

const adminListener = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The admin listener: health, readiness, admin API and metrics. Loopback by default.',
  properties: { port: port(8081), host: host('127.0.0.1') },
} as const;

const FILE_REF = '^\\$\\{file:[^}]+\\}$';

const upstreamTlsSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  dependentRequired: { cert: ['key'], key: ['cert'] },
  description:
    'TLS to an `https://` upstream. The upstream certificate is always verified (there is no setting to turn that off); `cert`/`key` add a client certificate (mTLS). Files are reloaded when they change.',
  properties: {
    ca: {
      type: 'string',
      pattern: FILE_REF,
      description: 'CA bundle (PEM) the upstream certificate must chain to, as `${file:certs/upstream-ca.pem}`. Default: the public CAs bundled with Node.',
    },
    cert: {
      type: 'string',
      pattern: FILE_REF,
      description: "Rampart's client certificate chain (PEM, leaf first) presented to the upstream, as `${file:certs/rampart-client.crt}`. Needs `key`.",
    },
    key: {
      type: 'string',
      pattern: FILE_REF,
      description: 'Private key (PEM) of `cert`: must be a `${file:path}` reference (read from the file so it can be reloaded).',
    },
    servername: {
      type: 'string',
      pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$',
      maxLength: 253,
      description: 'Name sent as TLS SNI and checked against the upstream certificate. Default: the host of `url`.',
    },
  },
} as const;

const upstreamSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'An upstream service Rampart forwards to: one instance (`url`) or a pool (`targets`).',
  properties: {
    url: { type: 'string', pattern: UPSTREAM_URL_PATTERN, description: 'Origin of the upstream: scheme://host[:port]. Or give `targets`.' },
    ...balancerProperties,
    connect_timeout_ms: durationMs(2000, 'Time to establish a connection; then 504.', 60000),
    headers_timeout_ms: durationMs(15000, 'Time to receive the response headers; then 504.'),
    body_timeout_ms: durationMs(30000, 'Longest gap between response body chunks; then the response is cut.'),
    connections: { type: 'integer', minimum: 1, maximum: 4096, default: 128, description: 'Connections in the keep-alive pool.' },
    keep_alive_timeout_ms: durationMs(4000, 'Idle time before a pooled connection is closed.'),
    tls: upstreamTlsSchema,
  },
} as const;

const operationOverrides = {
  type: 'object',
  additionalProperties: false,
  description: 'Per-operation settings, by operationId. These win over the OpenAPI document and API-level settings.',
  properties: {
    // No default: an operation listed for another setting keeps the API's limit.
    max_body_bytes: { type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024, description: 'Largest request body for this operation; default: the API\'s `max_body_bytes`.' },
    content_types: { ...mediaTypeList, description: 'Request media types accepted for this operation.' },
    cors: corsSchema,
    roles: rolesSchema,
    rate_limits: { ...rateLimitListSchema, description: 'Rate limits for this operation; a limit with the same name as an API-level one replaces it.' },
    concurrency: concurrencySchema,
    login: loginSchema,
    step_up: stepUpSchema,
    sender_constraint: {
      enum: ['allowed', 'required'],
      description: 'Overrides `auth.sender_constraint.mode` for this operation: `required` refuses tokens not bound to a DPoP key or the client certificate.',
    },
    owner_lookup: ownerLookupSchema,
    websocket: websocketSchema,
  },
} as const;

/** The `apis[]` settings policies declare in the registry (src/policies/index.ts), by key. */
function policySettings(core: object): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const { name, setting } of POLICY_FACTORIES) {
    if (!setting) continue;
    if (setting.key in settings || setting.key in core) throw new Error(`policy ${name}: setting apis[].${setting.key} is declared twice`);
    settings[setting.key] = setting.schema;
  }
  return settings;
}

/** The settings of an `apis[]` entry that the config itself defines. */
const coreApiProperties = {
  name: { type: 'string', pattern: NAME, description: 'Identifier used in logs and metrics.' },
  spec: { type: 'string', minLength: 1, description: 'Path of the OpenAPI 3.0/3.1 document (YAML or JSON).' },
  upstream: { type: 'string', pattern: NAME, description: 'Name of an entry under `upstreams`.' },
  base_path: {
    type: 'string',
    pattern: '^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$',
    default: '/',
    description: 'Path prefix this API is served under (stripped before matching the spec).',
  },
  passthrough: {
    type: 'boolean',
    default: false,
    description: 'Forward every path and method (no spec, no positive security model). Off by default.',
  },
  // No default: an API without its own limit takes `limits.max_body_bytes`.
max_body_bytes: { type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024, description: 'Largest request body for this API; default: `limits.max_body_bytes`.' },
  content_types: {
    ...mediaTypeList,
    description: 'Request media types accepted; default: those the spec declares, else application/json.',
  },
  cors: corsSchema,
  auth: authSchema,
  rate_limits: rateLimitListSchema,
  concurrency: concurrencySchema,
  brute_force: bruteForceSchema,
  validation: validationSchema,
  waf: wafSchema,
  response: responseSchema,
  rules: rulesSchema,
  owner_rules: ownerRulesSchema,
  upstream_credential: upstreamCredentialSchema,
  password_policy: passwordPolicySchema,
  self_service_keys: selfServiceKeysSchema,
  websocket: websocketSchema,
  operations: { type: 'object', propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,128}$' }, additionalProperties: operationOverrides, default: {} },
} as const;

const apiSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'upstream'],
  description: 'An API served by Rampart: its OpenAPI contract, its upstream and the controls applied to it.',
  // A registry setting is typed by its own policy, which receives its value (PolicyFactory.build); here it is
  // typed as nothing, so that the config types describe the core settings.
  properties: { ...coreApiProperties, ...(policySettings(coreApiProperties) as object) },
} as const;

/** The JSON Schema of `rampart.yaml`. Defaults live here and only here. */
export const configSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://rampart.dev/schemas/rampart.json',
  title: 'Rampart configuration',
  type: 'object',
  additionalProperties: false,
  required: ['listen', 'upstreams', 'apis'],
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      description: 'Listeners. At least one of `https` or `http` must be set.',
      properties: {
        https: httpsListener,
        http: httpListener,
        admin: adminListener,
        hosts: {
          type: 'array',
          maxItems: 256,
          uniqueItems: true,
          items: { type: 'string', pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$', maxLength: 253 },
          description:
            'Host names the gateway serves (`api.example.com`, `*.example.com` for one level of subdomain). When set, a request for any other `Host`/`:authority` answers 421 and `X-Forwarded-Host` carries the requested host; when empty, `X-Forwarded-Host` is the address of the listener the request arrived on, never the client-chosen `Host`.',
        },
      },
    },
    trusted_proxies: {
      type: 'array',
      items: cidr,
      default: [],
      maxItems: 1024,
      description: 'CIDRs of proxies in front of Rampart; X-Forwarded-For is believed only from these.',
    },
    limits: limitsSchema,
    security_headers: securityHeadersSchema,
    identity: identitySchema,
    counters: countersSchema,
    store: storeSchema,
    auth_keys: authKeysSchema,
    admin: adminSchema,
    plans: plansSchema,
    upstreams: { type: 'object', minProperties: 1, propertyNames: { pattern: NAME }, additionalProperties: upstreamSchema },
    apis: { type: 'array', minItems: 1, maxItems: 256, items: apiSchema },
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Logging.',
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'Log level.' },
        access_log: { type: 'boolean', default: true, description: 'One JSON line per request.' },
      },
    },
    tracing: tracingSchema,
    audit: auditSchema,
    monitor: monitorSchema,
    ip_filter: ipFilterSchema,
    shutdown: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Graceful shutdown.',
      properties: { drain_timeout_ms: durationMs(10000, 'How long in-flight requests may finish after SIGTERM.') },
    },
  },
} as const;
