/** Shared fixtures for the API key, admin API and mTLS integration tests. */

/**
 * `GET /items` (secured by the one scheme, `name: definition` in YAML flow) and a public `GET /public`: the spec the
 * authentication integration tests share.
 */
export function itemsSpec(title: string, scheme: string): string {
  return `openapi: 3.1.0
info: { title: ${title}, version: 1.0.0 }
components:
  securitySchemes:
    ${scheme}
security: [ { ${scheme.slice(0, scheme.indexOf(':'))}: [] } ]
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok } }
  /public:
    get:
      operationId: publicInfo
      security: []
      responses: { '200': { description: ok } }
`;
}

export const KEYS_SPEC = itemsSpec('keys', 'apiKey: { type: apiKey, in: header, name: X-API-Key }');

export const ADMIN_TOKEN = 'admin-token-'.padEnd(40, 'a');
export const READ_TOKEN = 'read-token-'.padEnd(40, 'r');

/** `admin:` with an admin token (`ops`, T_ADMIN) and a read-only one (`auditor`, T_READ); see TEST_ENV. */
export const ADMIN_CONFIG = { tokens: [{ name: 'ops', token: '${env:T_ADMIN}', role: 'admin' }, { name: 'auditor', token: '${env:T_READ}', role: 'read_only' }] };

export function keysConfig(upstreamUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { main: { url: upstreamUrl } },
    apis: [{ name: 'keys', spec: './keys.yaml', upstream: 'main', auth: { api_keys: true }, response: { mode: 'off' } }],
    admin: ADMIN_CONFIG,
    ...extra,
  };
}

/** A KEK (32 bytes, base64) for tests whose gateways share a database: `store.encryption: STORE_ENCRYPTION`. */
export const TEST_KEK = Buffer.alloc(32, 0x5a).toString('base64');
export const STORE_ENCRYPTION = { keks: [{ id: 'test-1', key: '${env:T_KEK}' }], active: 'test-1' };

export const TEST_ENV = { ...process.env, T_ADMIN: ADMIN_TOKEN, T_READ: READ_TOKEN, T_KEK: TEST_KEK };

/** Calls the admin API. */
export async function adminCall(base: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/admin/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
