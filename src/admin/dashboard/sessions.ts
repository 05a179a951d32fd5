import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../problem.ts';
import type { AdminPrincipal } from '../api/auth.ts';

/** The session cookie: HttpOnly, SameSite=Strict, path `/` of the admin listener. */
export const SESSION_COOKIE = 'rampart_admin_session';
/** Header every change made with a session must carry (the value `GET /admin/v1/session` answers). */
export const CSRF_HEADER = 'x-csrf-token';
/** Sessions held at once; past it the least recently used is ended. */
export const MAX_SESSIONS = 256;

export interface SessionOptions {
  readonly idleMs: number;
  readonly maxMs: number;
  readonly now?: () => number;
}

interface Session {
  readonly principal: AdminPrincipal;
  readonly csrf: Buffer;
  readonly createdAt: number;
  lastSeen: number;
}

/** What a login or `GET /admin/v1/session` tells the dashboard. */
export interface SessionView {
  readonly name: string;
  readonly role: AdminPrincipal['role'];
  readonly csrf_token: string;
  readonly expires_at: string;
}

const SAFE = new Set(['GET', 'HEAD']);

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The session id from the Cookie header, or undefined (a malformed or oversized header reads as no cookie). */
export function sessionCookieOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
  }
  return undefined;
}

/**
 * Dashboard sessions of the admin listener, opened by logging in with an admin token (the session acts as that
 * token's holder: same name, same role). Held in this process's memory by the SHA-256 of their id (a heap dump
 * yields no usable cookie), ended after `idleMs` without use or `maxMs` after login, whichever comes first.
 *
 * A session authenticates by cookie, which a browser attaches to cross-site requests too; so every change (any
 * method but GET/HEAD) must also present the session's CSRF token in `X-CSRF-Token`, which another site cannot
 * read, and must not come from another origin (Origin / Sec-Fetch-Site, when the browser sends them).
 */
export class DashboardSessions {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #maxMs: number;
  readonly #now: () => number;

  constructor(options: SessionOptions) {
    this.#idleMs = options.idleMs;
    this.#maxMs = options.maxMs;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Opens a session for `principal`: the cookie value (shown to the browser only) and the view with its CSRF token. */
  open(principal: AdminPrincipal): { readonly id: string; readonly view: SessionView } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32);
    const now = this.#now();
    if (this.#sessions.size >= MAX_SESSIONS) this.#evictOne();
    const session: Session = { principal, csrf, createdAt: now, lastSeen: now };
    this.#sessions.set(digest(id), session);
    return { id, view: this.#view(session) };
  }

  /** The live session of the request's cookie (touching it), or undefined. */
  lookup(req: IncomingMessage): { readonly key: string; readonly session: Session } | undefined {
    const id = sessionCookieOf(req);
    if (id === undefined) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#now();
    if (now - session.lastSeen > this.#idleMs || now - session.createdAt > this.#maxMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    session.lastSeen = now;
    // Re-inserted so the map's order is least recently used first (eviction takes the first).
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    return { key, session };
  }

  /** Whether the request's session is still live, without counting this as use (a long-lived event stream). */
  alive(req: IncomingMessage): boolean {
    const id = sessionCookieOf(req);
    const session = id === undefined ? undefined : this.#sessions.get(digest(id));
    if (!session) return false;
    const now = this.#now();
    return now - session.lastSeen <= this.#idleMs && now - session.createdAt <= this.#maxMs;
  }

  /** Whether the request carries a session cookie at all (then it is judged by the session, never by a bearer token). */
  presented(req: IncomingMessage): boolean {
    return sessionCookieOf(req) !== undefined || /(?:^|;)\s*rampart_admin_session=/.test(req.headers.cookie ?? '');
  }

  /**
   * The caller of a request made with a session cookie: 401 without a live session; 403 `csrf_failed` on a
   * change without the session's CSRF token or from another origin.
   */
  authenticate(req: IncomingMessage): AdminPrincipal {
    const found = this.lookup(req);
    if (!found) throw new GatewayError('unauthorized', 'admin dashboard: no live session');
    if (!SAFE.has(req.method ?? 'GET')) this.#checkChange(req, found.session);
    return found.session.principal;
  }

  view(req: IncomingMessage): SessionView | undefined {
    const found = this.lookup(req);
    return found ? this.#view(found.session) : undefined;
  }

  /** Ends the request's session (a change: CSRF-checked). Returns the principal it belonged to. */
  close(req: IncomingMessage): AdminPrincipal {
    const found = this.lookup(req);
    if (!found) throw new GatewayError('unauthorized', 'admin dashboard: no live session');
    this.#checkChange(req, found.session);
    this.#sessions.delete(found.key);
    return found.session.principal;
  }

  #checkChange(req: IncomingMessage, session: Session): void {
    if (!sameOrigin(req)) throw new GatewayError('csrf_failed', 'admin dashboard: change from another origin');
    const given = req.headers[CSRF_HEADER];
    if (typeof given !== 'string' || given.length > 256) throw new GatewayError('csrf_failed', 'admin dashboard: change without a CSRF token');
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(session.csrf.toString('base64url')).digest();
    if (!timingSafeEqual(a, b)) throw new GatewayError('csrf_failed', 'admin dashboard: wrong CSRF token');
  }

  #view(session: Session): SessionView {
    const expires = Math.min(session.lastSeen + this.#idleMs, session.createdAt + this.#maxMs);
    return { name: session.principal.name, role: session.principal.role, csrf_token: session.csrf.toString('base64url'), expires_at: new Date(expires).toISOString() };
  }

  #evictOne(): void {
    const oldest = this.#sessions.keys().next();
    if (!oldest.done) this.#sessions.delete(oldest.value);
  }
}

/**
 * False when the browser says the request comes from another site: `Sec-Fetch-Site` other than same-origin (or
 * none, a typed URL), or an `Origin` whose host is not the `Host` the request was sent to.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

/** The Set-Cookie value opening a session (`id`) or ending it (undefined). */
export function sessionCookie(id: string | undefined, maxAgeSeconds: number): string {
  const attributes = 'Path=/; HttpOnly; SameSite=Strict';
  return id === undefined ? `${SESSION_COOKIE}=; ${attributes}; Max-Age=0` : `${SESSION_COOKIE}=${id}; ${attributes}; Max-Age=${maxAgeSeconds}`;
}
