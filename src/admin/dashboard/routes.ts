import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log.ts';
import { GatewayError } from '../../problem.ts';
import { createHash } from 'node:crypto';
import type { DashboardConfig } from '../api/schema.ts';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../server.ts';
import { readJson } from '../api/routes.ts';
import { clientNetwork } from '../../policies/ratelimit/keys.ts';
import { DASHBOARD_HEADERS, type Asset } from './assets.ts';
import { DashboardSessions, sameOrigin, sessionCookie } from './sessions.ts';

/** Failed logins one client IP may make per minute before it waits (tokens are long; this bounds the noise). */
export const LOGIN_FAILURES_PER_MINUTE = 10;
/** Clients whose failed logins are counted at once. */
export const MAX_TRACKED_CLIENTS = 1024;
const MAX_LOGIN_BODY = 4096;

export interface DashboardOptions {
  readonly config: DashboardConfig;
  /** Built files (assets.ts); undefined when the dashboard was not built: the session routes still work. */
  readonly assets: Map<string, Asset> | undefined;
  readonly logger: Logger;
  /** Appends an audit record (login, logout, refused login). */
  readonly audit?: (type: string, fields: Record<string, unknown>) => void;
  readonly now?: () => number;
}

/** The login's token. JSON only, judged before the body is read: a cross-site form cannot send JSON without a CORS preflight, which this listener never grants. */
async function readLogin(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new GatewayError('unsupported_media_type', 'dashboard login expects application/json');
  const token = (await readJson(req, MAX_LOGIN_BODY))['token'];
  if (typeof token !== 'string' || token.length === 0 || token.length > 512) throw new GatewayError('validation_failed', 'dashboard login: token missing', { errors: [{ pointer: 'body/token', message: 'must be a string' }] });
  return token;
}

/**
 * Failed logins per client over one minute, in a bounded map. A client at the limit is never forgotten to make room:
 * when every tracked client is at it (a flood from many addresses), new clients wait too until entries expire.
 */
class LoginFailures {
  readonly #seen = new Map<string, { count: number; resetAt: number }>();
  readonly #now: () => number;
  constructor(now: () => number) {
    this.#now = now;
  }
  /** Seconds to wait, or undefined when the client may try. */
  blocked(client: string): number | undefined {
    const now = this.#now();
    const entry = this.#seen.get(client);
    if (entry && now >= entry.resetAt) this.#seen.delete(client);
    else if (entry) return entry.count >= LOGIN_FAILURES_PER_MINUTE ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : undefined;
    if (this.#seen.size >= MAX_TRACKED_CLIENTS && !this.#makeRoom(now)) return 60;
    return undefined;
  }
  fail(client: string): void {
    const now = this.#now();
    const entry = this.#seen.get(client);
    if (entry && now < entry.resetAt) entry.count++;
    else if (this.#seen.size < MAX_TRACKED_CLIENTS || this.#makeRoom(now)) this.#seen.set(client, { count: 1, resetAt: now + 60_000 });
  }
  /** Drops an expired entry, else the oldest below the limit; false when every entry is a client at the limit. */
  #makeRoom(now: number): boolean {
    let below: string | undefined;
    for (const [key, entry] of this.#seen) {
      if (now >= entry.resetAt) {
        this.#seen.delete(key);
        return true;
      }
      if (below === undefined && entry.count < LOGIN_FAILURES_PER_MINUTE) below = key;
    }
    if (below === undefined) return false;
    this.#seen.delete(below);
    return true;
  }
}

function sendAsset(res: ServerResponse, asset: Asset, head: boolean): void {
  res.writeHead(200, { ...DASHBOARD_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-store' });
  res.end(head ? undefined : asset.body);
}

/**
 * The dashboard on the admin listener: its built files under `/dashboard/` (public: they hold no data; every
 * number they show comes from the admin API) and the session routes. `POST /admin/v1/session {token}` checks an
 * admin token and opens a session (cookie + CSRF token); `GET` answers who is logged in, with the CSRF token;
 * `DELETE` logs out. Logins, logouts and refused logins are audited with the token's name.
 */
export function registerDashboard(admin: AdminServer, options: DashboardOptions): DashboardSessions {
  const now = options.now ?? Date.now;
  const { config } = options;
  // The admin listener's tokens in force (a reload replaces them): a session lives only as long as its token.
  const sessions = new DashboardSessions({ idleMs: config.session_idle_minutes * 60_000, maxMs: config.session_max_hours * 3_600_000, holderOf: (digest) => admin.auth.holderOf(digest), now });
  admin.sessions = sessions;
  const failures = new LoginFailures(now);
  const audit = options.audit ?? (() => undefined);
  const maxAge = config.session_max_hours * 3600;

  admin.route(
    'POST',
    `${ADMIN_API_BASE}/session`,
    async (req, res) => {
      const ip = req.socket.remoteAddress ?? 'unknown';
      // IPv4 as is, IPv6 by its /64 (one host's usual allocation), as rate limits count clients.
      const client = clientNetwork(ip);
      if (!sameOrigin(req)) throw new GatewayError('csrf_failed', 'dashboard login from another origin');
      const wait = failures.blocked(client);
      if (wait !== undefined) throw new GatewayError('auth_backoff', 'dashboard login: too many failures', { headers: { 'retry-after': String(wait) } });
      const tokenDigest = createHash('sha256').update(await readLogin(req)).digest();
      const principal = admin.auth.holderOf(tokenDigest);
      if (!principal) {
        failures.fail(client);
        audit('admin.login_failed', { ip });
        throw new GatewayError('unauthorized', 'dashboard login: unknown token');
      }
      const { id, view } = sessions.open(principal, tokenDigest);
      audit('admin.login', { actor: principal.name, via: 'dashboard' });
      options.logger.info({ actor: principal.name }, 'dashboard login');
      res.setHeader('set-cookie', sessionCookie(id, maxAge));
      sendJson(res, 201, view);
    },
    { public: true },
  );
  admin.route(
    'GET',
    `${ADMIN_API_BASE}/session`,
    (req, res) => {
      const view = sessions.view(req);
      if (!view) throw new GatewayError('unauthorized', 'dashboard: no live session');
      sendJson(res, 200, view);
    },
    { public: true },
  );
  admin.route(
    'DELETE',
    `${ADMIN_API_BASE}/session`,
    (req, res) => {
      const principal = sessions.close(req);
      audit('admin.logout', { actor: principal.name, via: 'dashboard' });
      res.setHeader('set-cookie', sessionCookie(undefined, 0));
      sendJson(res, 200, { logged_out: true });
    },
    { public: true },
  );

  const assets = options.assets;
  if (!assets) options.logger.warn('admin dashboard not built (npm run build:dashboard): /dashboard/ answers 404');
  const asset = (path: string) => {
    const found = assets?.get(path);
    if (!found) throw new GatewayError('not_found');
    return found;
  };
  admin.route(
    'GET',
    '/dashboard',
    (_req, res) => {
      res.writeHead(308, { location: '/dashboard/', 'cache-control': 'no-store' });
      res.end();
    },
    { public: true },
  );
  admin.route('GET', '/dashboard/', (req, res) => sendAsset(res, asset('index.html'), req.method === 'HEAD'), { public: true });
  admin.route('GET', '/dashboard/assets/:file', (req, res, params) => sendAsset(res, asset(`assets/${params['file']}`), req.method === 'HEAD'), { public: true });
  return sessions;
}
