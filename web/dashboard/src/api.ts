/** The admin API as the dashboard uses it: same origin, session cookie, the CSRF token on every change. */

export interface Session {
  readonly name: string;
  readonly role: 'admin' | 'read_only';
  readonly csrf_token: string;
  readonly expires_at: string;
}

export interface Page<T> {
  readonly items: T[];
  readonly next: string | null;
}

/** A refused call: the problem's title and type (never more: the API tells clients nothing else). */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string | undefined;
  readonly requestId: string | undefined;
  constructor(status: number, title: string, type?: string, requestId?: string) {
    super(title);
    this.status = status;
    this.type = type;
    this.requestId = requestId;
  }
}

const BASE = '/admin/v1';
let csrfToken = '';
let onSessionLost: () => void = () => undefined;

export function useSession(session: Session | undefined, lost: () => void): void {
  csrfToken = session?.csrf_token ?? '';
  onSessionLost = lost;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  const res = await fetch(BASE + path, { method, credentials: 'same-origin', headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as { title?: string; type?: string; requestId?: string };
    if (res.status === 401 && path !== '/session') onSessionLost();
    throw new ApiError(res.status, problem.title ?? res.statusText, problem.type, problem.requestId);
  }
  return (await res.json()) as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
  delete: <T>(path: string) => call<T>('DELETE', path),
};

/** A query string of the defined values. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `?${text}` : '';
}

export async function login(token: string): Promise<Session> {
  return call<Session>('POST', '/session', { token });
}

export async function currentSession(): Promise<Session | undefined> {
  try {
    return await call<Session>('GET', '/session');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

export async function logout(): Promise<void> {
  await call('DELETE', '/session');
}

// Shapes the pages read (the admin API's OpenAPI document at /admin/v1/openapi.json has them all).

export interface TrafficPoint {
  readonly at: string;
  readonly requests: number;
  readonly denied: number;
  readonly denies: Record<string, number>;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface Traffic {
  readonly bucket_seconds: number;
  readonly window_seconds: number;
  readonly requests: number;
  readonly denied: number;
  readonly denies: Record<string, number>;
  readonly latency_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  readonly top_consumers: readonly { readonly consumer: string; readonly requests: number }[];
  readonly top_ips: readonly { readonly ip: string; readonly requests: number }[];
  readonly series: readonly TrafficPoint[];
}

export interface SecurityEventView {
  readonly type: string;
  readonly at: string;
  readonly ip?: string;
  readonly consumer?: string;
  readonly key_id?: string;
  readonly method?: string;
  readonly reason?: string;
  readonly request_id?: string;
  /** Denied requests: `METHOD /template`. */
  readonly route?: string;
}

export interface IncidentAction {
  readonly id: string;
  readonly type: string;
  readonly target: string;
  readonly at: string;
  readonly status: string;
  readonly until?: number;
  readonly detail?: string;
}

export interface Incident {
  readonly id: string;
  readonly kind: string;
  readonly severity: string;
  readonly status: 'open' | 'resolved';
  readonly subject: Record<string, string | undefined>;
  readonly summary: string;
  readonly count: number;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly evidence: { readonly requestIds: readonly string[]; readonly counts: Record<string, number> };
  readonly actions: readonly IncidentAction[];
  readonly timeline: readonly { readonly at: string; readonly event: string; readonly detail?: Record<string, unknown> }[];
  readonly resolvedAt?: string;
  readonly resolvedBy?: string;
}

export interface Block {
  readonly ip: string;
  readonly until: number;
  readonly reason: string;
  readonly incidentId?: string;
}

export interface Consumer {
  readonly id: string;
  readonly name: string;
  readonly tenant: string | null;
  readonly roles: readonly string[];
  readonly plan: string | null;
  readonly metadata: Record<string, unknown>;
  readonly created_at: string;
}

export interface Key {
  readonly id: string;
  readonly consumer: string;
  readonly scopes: readonly string[];
  readonly status: string;
  readonly expires_at: string | null;
  readonly metadata: Record<string, unknown>;
  readonly created_at: string;
  readonly last_used_at: string | null;
}

export interface AuditRecord {
  readonly seq: number;
  readonly time: string;
  readonly type: string;
  readonly fields: Record<string, unknown>;
  readonly hash: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly records: number;
  readonly checkpoints: number;
  readonly lastSeq: number;
  readonly heads: number;
  readonly firstBad?: { readonly seq: number; readonly reason: string };
  readonly head: { readonly seq: number; readonly hash: string; readonly time: string } | null;
  readonly head_status: string;
}

export interface RouteView {
  readonly api: string;
  readonly method: string;
  readonly path: string;
  readonly operation: string;
  readonly upstream: string;
  readonly auth: string;
  readonly scopes: string;
  readonly roles: string;
  readonly rules: string;
  readonly ownership: string;
  readonly unprotected: boolean;
  readonly validation: boolean;
  readonly waf: { readonly mode: string; readonly fields: readonly string[] };
  readonly rate_limits: readonly { readonly name: string; readonly key: string; readonly limit: string | undefined; readonly algorithm: string }[];
  readonly max_body_bytes: number;
  readonly encrypted_fields: { readonly request: readonly string[]; readonly response: readonly string[] };
}

export interface Counter {
  readonly key: string;
  readonly ttlMs?: number;
}

export interface Lockout {
  readonly route: string;
  readonly kind: string;
  readonly ip?: string;
  readonly account?: string;
  readonly failures: number;
  readonly ttlMs?: number;
}
