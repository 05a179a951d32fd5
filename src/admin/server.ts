import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { GatewayError, toGatewayError } from '../problem.ts';
import type { AdminAuth, AdminPrincipal, AdminRole } from './api/auth.ts';
import { problemResponse } from '../http/problem-response.ts';
import type { DashboardSessions } from './dashboard/sessions.ts';

/** Base path of every admin resource on the admin listener (health, readiness, metrics and the JWKS stay at the root). */
export const ADMIN_API_BASE = '/admin/v1';

/** `principal` is the authenticated caller; undefined only on public routes. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, principal: AdminPrincipal | undefined) => void | Promise<void>;

export interface AdminRouteOptions {
  /** Served without a token (health, readiness, the identity JWKS). Default false. */
  readonly public?: boolean;
}

interface AdminRoute {
  readonly method: string;
  readonly path: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: AdminHandler;
  readonly public: boolean;
}

/** Role a method needs: reads (GET, HEAD) need `read_only`, everything else `admin`. */
export function roleFor(method: string): AdminRole {
  return method === 'GET' || method === 'HEAD' ? 'read_only' : 'admin';
}

/**
 * The admin listener (control plane): health and readiness here; the admin API, metrics, monitor and rate-limit
 * routes register theirs. Loopback by default. Authentication is enforced here, once, for every route not
 * registered as public: a bearer token from `admin.tokens` (401 with `WWW-Authenticate` without one), `read_only`
 * for GET/HEAD and `admin` for changes (403 otherwise). An unknown path also needs a token before it is told
 * apart from a known one (no route discovery). Errors answer problem+json like the data plane.
 */
export class AdminServer {
  readonly server: Server;
  readonly #routes: AdminRoute[] = [];
  readonly #logger: Logger;
  #auth: AdminAuth;
  ready = false;
  /**
   * Extra readiness detail merged into the /readyz body, e.g. `{ counters: 'degraded' }`. Reported only: it does
   * not turn readiness off (a shared dependency degraded on every instance must not take them all out of service).
   */
  readinessDetail: (() => Record<string, string>) | undefined;
  readonly #readinessSources: (() => Record<string, string>)[] = [];
  /**
   * Dashboard sessions: a request without an Authorization header that carries the session cookie is judged by
   * its session (and a change also by its CSRF token) instead of a bearer token.
   */
  sessions: DashboardSessions | undefined;

  constructor(logger: Logger, auth: AdminAuth) {
    this.#logger = logger;
    this.#auth = auth;
    this.server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => void this.#handle(req, res));
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }), { public: true });
    this.route('GET', '/readyz', (_req, res) => sendJson(res, this.ready ? 200 : 503, { status: this.ready ? 'ready' : 'not ready', ...this.#detail() }), { public: true });
  }

  /** The admin tokens in force. */
  get auth(): AdminAuth {
    return this.#auth;
  }

  /** Replaces the admin tokens (config reload): a removed token stops working at once, and so do its sessions. */
  set auth(auth: AdminAuth) {
    this.#auth = auth;
  }

  /** Adds a source of readiness detail (reported only, like `readinessDetail`), e.g. the audit head state. */
  addReadinessDetail(source: () => Record<string, string>): void {
    this.#readinessSources.push(source);
  }

  #detail(): Record<string, string> {
    const detail: Record<string, string> = { ...this.readinessDetail?.() };
    for (const source of this.#readinessSources) {
      try {
        Object.assign(detail, source());
      } catch (error) {
        // Readiness answers even when one detail cannot be read; the failure is the operator's to see in the log.
        this.#logger.error({ err: errorForLog(error) }, 'readiness detail failed');
      }
    }
    return detail;
  }

  /** The registered routes (method, `:name` path, public), for the admin API's OpenAPI document and its test. */
  get routes(): readonly { readonly method: string; readonly path: string; readonly public: boolean }[] {
    return this.#routes.map((r) => ({ method: r.method, path: r.path, public: r.public }));
  }

  /** Registers a route; `path` may hold `:name` segments. Authenticated unless `options.public`. */
  route(method: string, path: string, handler: AdminHandler, options: AdminRouteOptions = {}): void {
    const names: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.#routes.push({ method, path, pattern: new RegExp(`^${source}$`), names, handler, public: options.public === true });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = randomUUID();
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      const method = req.method ?? 'GET';
      let pathMatched = false;
      let found: { route: AdminRoute; match: RegExpExecArray } | undefined;
      for (const route of this.#routes) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        pathMatched = true;
        // HEAD is answered by the GET route (Node sends no body for it).
        if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
          found = { route, match };
          break;
        }
      }
      if (found?.route.public) {
        await found.route.handler(req, res, paramsOf(found.route, found.match), undefined);
        return;
      }
      const principal = this.sessions && req.headers.authorization === undefined && this.sessions.presented(req) ? this.sessions.authenticate(req) : this.#auth.authenticate(req);
      if (!found) throw new GatewayError(pathMatched ? 'method_not_allowed' : 'not_found');
      this.#auth.authorize(principal, roleFor(method));
      await found.route.handler(req, res, paramsOf(found.route, found.match), principal);
    } catch (thrown) {
      const error = toGatewayError(thrown);
      if (error.code === 'internal') this.#logger.error({ requestId: id, err: errorForLog(thrown) }, 'admin request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const { status, headers, body } = problemResponse(error.code, id, { ...(error.errors ? { errors: error.errors } : {}), ...(error.headers ? { headers: error.headers } : {}) });
      res.writeHead(status, headers);
      res.end(body);
    }
  }
}

/** Decoded route parameters; a malformed percent escape (`%zz`, a lone `%`, invalid UTF-8) is the client's 400. */
function paramsOf(route: AdminRoute, match: RegExpExecArray): Record<string, string> {
  try {
    return Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
  } catch (error) {
    throw new GatewayError('bad_request', 'malformed percent escape in an admin route parameter', { cause: error });
  }
}

/** Writes a JSON response with no-store caching. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}
