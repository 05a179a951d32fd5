/**
 * The admin listener's OpenAPI 3.1 document, served at `GET /admin/v1/openapi.json` (read_only token). Every route
 * the listener registers is described here; test/admin-openapi.test.ts checks both directions against the running
 * listener and validates the document with swagger-parser.
 */

type Json = Record<string, unknown>;
type Role = 'public' | 'read_only' | 'admin';

const PROBLEM = { $ref: '#/components/responses/Problem' };
const OBJECT = { type: 'object' };

function op(summary: string, role: Role, options: { params?: string[]; query?: [string, string][]; body?: Json; status?: number; response?: Json; contentType?: string } = {}): Json {
  const status = String(options.status ?? 200);
  return {
    summary,
    ...(role === 'public' ? { security: [] } : { 'x-rampart-role': role }),
    parameters: [
      ...(options.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string', maxLength: 256 } })),
      ...(options.query ?? []).map(([name, description]) => ({ name, in: 'query', required: false, description, schema: { type: 'string', maxLength: 256 } })),
    ],
    ...(options.body ? { requestBody: { required: true, content: { 'application/json': { schema: options.body } } } } : {}),
    responses: {
      [status]: { description: 'OK', content: { [options.contentType ?? 'application/json']: { schema: options.response ?? OBJECT } } },
      ...(role === 'public' ? {} : { '401': PROBLEM, '403': PROBLEM }),
      '400': PROBLEM,
      '404': PROBLEM,
    },
  };
}

const page = (item: string) => ({ type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: { $ref: `#/components/schemas/${item}` } }, next: { type: ['string', 'null'], description: 'Cursor of the next page (`after=`); null on the last page.' } } });
const paging: [string, string][] = [['limit', 'Page size (1–500, default 100).'], ['after', 'Cursor from the previous page’s `next`.']];
const strings = { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 128 } };
const SIGNATURE_ALGORITHMS = ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256'];
const consumerFields = { name: { type: 'string', maxLength: 256 }, tenant: { type: ['string', 'null'] }, roles: strings, groups: strings, plan: { type: ['string', 'null'] }, metadata: OBJECT };

/** The document (built once). */
export const ADMIN_OPENAPI: Json = {
  openapi: '3.1.0',
  info: {
    title: 'Rampart admin listener',
    version: '1',
    description: 'Health, metrics, the admin API (consumers, API keys, events, audit head), incidents and blocks, rate-limit counters and lockouts. Bearer tokens from `admin.tokens`: `read_only` for reads, `admin` for changes (`x-rampart-role`).',
  },
  security: [{ adminToken: [] }],
  components: {
    securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'A token from admin.tokens.' } },
    responses: { Problem: { description: 'RFC 9457 problem', content: { 'application/problem+json': { schema: { type: 'object', required: ['type', 'title', 'status'], properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, requestId: { type: 'string' } } } } } } },
    schemas: {
      Consumer: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, ...consumerFields, createdAt: { type: 'string' } } },
      Key: { type: 'object', required: ['id', 'consumer'], description: 'Never the secret or its hash.', properties: { id: { type: 'string' }, consumer: { type: 'string' }, scopes: strings, plan: { type: ['string', 'null'] }, expiresAt: { type: ['string', 'null'] }, revokedAt: { type: ['string', 'null'] } } },
      NewKey: { type: 'object', required: ['key'], description: 'The secret, shown once.', properties: { key: { type: 'string' } } },
      SignatureKey: {
        type: 'object',
        required: ['keyid', 'consumer', 'algorithm', 'public_key', 'created_at', 'revoked_at', 'status'],
        description: 'An RFC 9421 partner key of the store. Never the HMAC secret.',
        properties: { keyid: { type: 'string' }, consumer: { type: 'string' }, algorithm: { enum: SIGNATURE_ALGORITHMS }, public_key: { type: ['string', 'null'] }, created_at: { type: 'string' }, revoked_at: { type: ['string', 'null'] }, status: { enum: ['active', 'revoked'] } },
      },
      NewSignatureKey: { type: 'object', description: '`hmac-sha256` only: the generated secret (base64url of 32 bytes), shown once.', properties: { secret: { type: 'string' } } },
      Incident: { type: 'object', required: ['id', 'kind', 'status'], properties: { id: { type: 'string' }, kind: { type: 'string' }, status: { enum: ['open', 'resolved'] }, severity: { type: 'string' } } },
      Event: { type: 'object', required: ['seq', 'id', 'at', 'actor', 'action'], properties: { seq: { type: 'integer' }, id: { type: 'string' }, at: { type: 'string' }, actor: { type: 'string' }, action: { type: 'string' }, target_type: { type: ['string', 'null'] }, target_id: { type: ['string', 'null'] }, details: OBJECT } },
      Block: { type: 'object', required: ['ip', 'until', 'reason'], properties: { ip: { type: 'string' }, until: { type: 'integer', description: 'Epoch ms.' }, reason: { type: 'string' }, incidentId: { type: 'string' } } },
      Counter: { type: 'object', required: ['key'], properties: { key: { type: 'string' }, ttlMs: { type: 'integer' } } },
      Lockout: { type: 'object', required: ['route', 'kind', 'failures'], properties: { route: { type: 'string' }, kind: { enum: ['ip', 'acct', 'ipacct'] }, ip: { type: 'string' }, account: { type: 'string', description: 'Hashed.' }, failures: { type: 'integer' }, ttlMs: { type: 'integer' } } },
      AuditRecord: { type: 'object', required: ['seq', 'time', 'type', 'fields', 'hash'], properties: { seq: { type: 'integer' }, time: { type: 'string' }, type: { type: 'string' }, fields: OBJECT, prev_hash: { type: 'string' }, hash: { type: 'string' }, mac: { type: 'string' } } },
      Route: { type: 'object', required: ['api', 'method', 'path', 'operation', 'unprotected'], properties: { api: { type: 'string' }, method: { type: 'string' }, path: { type: 'string' }, operation: { type: 'string' }, auth: { type: 'string' }, scopes: { type: 'string' }, roles: { type: 'string' }, rules: { type: 'string' }, ownership: { type: 'string' }, unprotected: { type: 'boolean' }, validation: { type: 'boolean' }, waf: OBJECT, rate_limits: { type: 'array', items: OBJECT } } },
      Session: { type: 'object', required: ['name', 'role', 'csrf_token', 'expires_at'], properties: { name: { type: 'string' }, role: { enum: ['admin', 'read_only'] }, csrf_token: { type: 'string' }, expires_at: { type: 'string' } } },
      InFlight: { type: 'object', required: ['key', 'inFlight'], properties: { key: { type: 'string' }, inFlight: { type: 'integer' } } },
    },
  },
  paths: {
    '/healthz': { get: op('Liveness', 'public') },
    '/readyz': { get: op('Readiness (503 until listening; detail of counters, audit head, …)', 'public') },
    '/.well-known/jwks.json': { get: op('Public keys of the identity assertion sent upstream (with identity on)', 'public') },
    '/metrics': { get: op('Prometheus metrics', 'read_only', { contentType: 'text/plain', response: { type: 'string' } }) },
    '/admin/v1/openapi.json': { get: op('This document', 'read_only') },
    '/admin/v1/consumers': {
      get: op('List consumers', 'read_only', { query: [...paging, ['tenant', 'Only this tenant.']], response: page('Consumer') }),
      post: op('Create a consumer', 'admin', { status: 201, body: { type: 'object', required: ['name'], properties: { id: { type: 'string', maxLength: 128 }, ...consumerFields } }, response: { $ref: '#/components/schemas/Consumer' } }),
    },
    '/admin/v1/consumers/{id}': {
      get: op('One consumer', 'read_only', { params: ['id'], response: { $ref: '#/components/schemas/Consumer' } }),
      patch: op('Change a consumer', 'admin', { params: ['id'], body: { type: 'object', properties: consumerFields }, response: { $ref: '#/components/schemas/Consumer' } }),
      delete: op('Delete a consumer (its keys stop working)', 'admin', { params: ['id'] }),
    },
    '/admin/v1/consumers/{id}/signature-keys': {
      get: op('List a consumer’s RFC 9421 signature keys (never HMAC secrets)', 'read_only', { params: ['id'], query: paging, response: page('SignatureKey') }),
      post: op('Create a signature key: a public key (validated for its algorithm) or, for hmac-sha256, a generated secret returned in this response only', 'admin', {
        params: ['id'],
        status: 201,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['keyid', 'algorithm'],
          properties: {
            keyid: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$' },
            algorithm: { enum: SIGNATURE_ALGORITHMS },
            public_key: { type: ['string', 'null'], maxLength: 16384, description: 'PEM (SPKI; PKCS#1 for RSA) or a JWK as JSON. Required for asymmetric algorithms; not accepted for hmac-sha256.' },
          },
        },
        response: { allOf: [{ $ref: '#/components/schemas/SignatureKey' }, { $ref: '#/components/schemas/NewSignatureKey' }] },
      }),
    },
    '/admin/v1/signature-keys/{keyid}': { get: op('One signature key', 'read_only', { params: ['keyid'], response: { $ref: '#/components/schemas/SignatureKey' } }) },
    '/admin/v1/signature-keys/{keyid}/revoke': { post: op('Revoke a signature key (every instance stops accepting it)', 'admin', { params: ['keyid'], response: { $ref: '#/components/schemas/SignatureKey' } }) },
    '/admin/v1/keys': {
      get: op('List API keys (never their secrets)', 'read_only', { query: [...paging, ['consumer', 'Only this consumer’s keys.']], response: page('Key') }),
      post: op('Create an API key (the secret is in this response only)', 'admin', { status: 201, body: { type: 'object', required: ['consumer'], properties: { consumer: { type: 'string' }, scopes: strings, expires_at: { type: ['string', 'null'], format: 'date-time' }, plan: { type: ['string', 'null'] }, metadata: OBJECT } }, response: { allOf: [{ $ref: '#/components/schemas/NewKey' }, { $ref: '#/components/schemas/Key' }] } }),
    },
    '/admin/v1/keys/{id}': {
      get: op('One API key', 'read_only', { params: ['id'], response: { $ref: '#/components/schemas/Key' } }),
      patch: op('Change a live key’s scopes, expiry, plan or metadata (never its consumer or secret)', 'admin', { params: ['id'], body: { type: 'object', additionalProperties: false, properties: { scopes: strings, expires_at: { type: ['string', 'null'], format: 'date-time' }, plan: { type: ['string', 'null'] }, metadata: OBJECT } }, response: { $ref: '#/components/schemas/Key' } }),
      delete: op('Revoke an API key', 'admin', { params: ['id'], response: { $ref: '#/components/schemas/Key' } }),
    },
    '/admin/v1/keys/{id}/rotate': { post: op('Rotate: a successor key; the old one works during the grace period', 'admin', { params: ['id'], status: 201, body: { type: 'object', properties: { grace_seconds: { type: 'integer', minimum: 0 }, expires_at: { type: ['string', 'null'], format: 'date-time' } } } }) },
    '/admin/v1/keys/{id}/reinstate': { post: op('Lift an incident’s suspension of an API key on every instance', 'admin', { params: ['id'], response: { $ref: '#/components/schemas/Key' } }) },
    '/admin/v1/keys/{id}/revoke': { post: op('Revoke an API key', 'admin', { params: ['id'], response: { $ref: '#/components/schemas/Key' } }) },
    '/admin/v1/events': { get: op('Admin events (who changed what), newest first', 'read_only', { query: paging, response: page('Event') }) },
    '/admin/v1/audit/head': { get: op('The newest signed audit head (404 before the first)', 'read_only') },
    '/admin/v1/audit/records': { get: op('Search the audit trail, newest first (cursor: a seq)', 'read_only', { query: [...paging, ['type', 'Record type, e.g. auth.failure.'], ['text', 'Substring of the record fields (a request id, key id, …).'], ['since', 'RFC 3339 date-time.'], ['until', 'RFC 3339 date-time.']], response: page('AuditRecord') }) },
    '/admin/v1/audit/export': { get: op('Every matching record as JSON lines, oldest first, with hashes and MACs (verifiable offline)', 'read_only', { query: [['type', 'Record type.'], ['text', 'Substring of the fields.'], ['since', 'RFC 3339 date-time.'], ['until', 'RFC 3339 date-time.']], contentType: 'application/x-ndjson', response: { type: 'string' } }) },
    '/admin/v1/audit/verify': { get: op('Verify the whole hash chain, MACs and checkpoints against the published head', 'read_only', { response: { type: 'object', required: ['ok', 'records'], properties: { ok: { type: 'boolean' }, records: { type: 'integer' }, lastSeq: { type: 'integer' }, firstBad: OBJECT, head: { type: ['object', 'null'] }, head_status: { type: 'string' } } } }) },
    '/admin/v1/routes': { get: op('The compiled route table: per operation its authentication, scopes, roles, rules, ownership, validation, WAF fields and rate limits; unprotected ones flagged', 'read_only', { response: page('Route') }) },
    '/admin/v1/traffic': { get: op('This instance’s requests, denies per code, latency percentiles, top consumers and client IPs in 10 s buckets', 'read_only', { query: [['window', 'Seconds, 10–3600 (default 300).']] }) },
    '/admin/v1/stream': { get: op('Server-sent events: `traffic` every 2 s, `security` events, `incident` opened/updated/resolved', 'read_only', { query: [['window', 'Seconds of traffic per snapshot, 10–3600 (default 300).']], contentType: 'text/event-stream', response: { type: 'string' } }) },
    '/admin/v1/session': {
      post: op('Dashboard login with an admin token: sets the session cookie (HttpOnly, SameSite=Strict) and answers the CSRF token', 'public', { status: 201, body: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 512 } } }, response: { $ref: '#/components/schemas/Session' } }),
      get: op('The dashboard session of the cookie, with its CSRF token (401 without one)', 'public', { response: { $ref: '#/components/schemas/Session' } }),
      delete: op('Log out (needs the CSRF token)', 'public'),
    },
    '/dashboard': { get: op('Redirect to /dashboard/', 'public', { status: 308 }) },
    '/dashboard/': { get: op('The dashboard (static; every number comes from this API)', 'public', { contentType: 'text/html', response: { type: 'string' } }) },
    '/dashboard/assets/{file}': { get: op('Dashboard scripts and styles (content-hashed)', 'public', { params: ['file'], response: { type: 'string' }, contentType: 'application/octet-stream' }) },
    '/admin/v1/incidents': { get: op('Incidents, newest first', 'read_only', { query: [...paging, ['status', 'open or resolved']], response: page('Incident') }) },
    '/admin/v1/incidents/{id}': { get: op('One incident: evidence, actions, timeline', 'read_only', { params: ['id'], response: { $ref: '#/components/schemas/Incident' } }) },
    '/admin/v1/incidents/{id}/resolve': { post: op('Resolve an incident and revert its containment', 'admin', { params: ['id'], body: { type: 'object', properties: { note: { type: 'string', maxLength: 1000 } } } }) },
    '/admin/v1/blocks': { get: op('Active IP blocks', 'read_only', { query: paging, response: page('Block') }) },
    '/admin/v1/blocks/{ip}': { delete: op('Lift a block everywhere', 'admin', { params: ['ip'] }) },
    '/admin/v1/ratelimit/counters': {
      get: op('Rate-limit counters', 'read_only', { query: [...paging, ['prefix', 'Counter key prefix.']], response: page('Counter') }),
      delete: op('Reset rate-limit counters', 'admin', { query: [['prefix', 'Counter key prefix.']] }),
    },
    '/admin/v1/ratelimit/lockouts': {
      get: op('Brute-force failure counters (accounts hashed)', 'read_only', { query: [...paging, ['ip', 'Only this client’s network.']], response: page('Lockout') }),
      delete: op('Lift lockouts by IP and/or account', 'admin', { query: [['ip', 'Client IP or network.'], ['account', 'Account as the client sent it.']] }),
    },
    '/admin/v1/ratelimit/concurrency': { get: op('Requests in flight per concurrency key', 'read_only', { query: paging, response: page('InFlight') }) },
  },
};
