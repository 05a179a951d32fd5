import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../problem.ts';
import { ADMIN_SESSION_COOKIE } from '../../http/gateway-cookies.ts';
import type { AdminPrincipal } from '../api/auth.ts';

/** The session cookie: HttpOnly, SameSite=Strict, path `/` of the admin listener (the data plane strips it both ways). */
export const SESSION_COOKIE = ADMIN_SESSION_COOKIE;
/** Header every change made with a session must carry (the value `GET /admin/v1/session` answers). */
export const CSRF_HEADER = 'x-csrf-token';
/** Sessions held at once; past it the least recently used is ended. */
export const MAX_SESSIONS = 1024;
/** Sessions of one token at once; past it that token's least recently used is ended (never another token's). */
export const MAX_SESSIONS_PER_TOKEN = 16;

export interface SessionOptions {
  readonly idleMs: number;
  readonly maxMs: number;
  /** The current holder of a token digest (AdminAuth.holderOf): a session whose token is gone or changed ends. */
  readonly holderOf: (tokenDigest: Buffer) => AdminPrincipal | undefined;
  readonly now?: () => number;
}

interface Session {
  readonly principal: AdminPrincipal;
  readonly tokenDigest: Buffer;
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
const PRESENTED = new RegExp(`(?:^|;)\\s*${SESSION_COOKIE}\\s*=`, 'i');

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * The well-formed session ids in the Cookie header (at most four are read; an oversized header reads as none).
 * There can be several: another service on the same host may have set one with a longer path, which the browser
 * then sends first.
 */
export function sessionCookiesOf(req: IncomingMessage): string[] {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 8192) return [];
  const ids: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim().toLowerCase() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(value)) ids.push(value);
    if (ids.length === 4) break;
  }
  return ids;
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
  readonly #holderOf: SessionOptions['holderOf'];

  constructor(options: SessionOptions) {
    this.#idleMs = options.idleMs;
    this.#maxMs = options.maxMs;
    this.#holderOf = options.holderOf;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Opens a session for the holder of the token whose SHA-256 is `tokenDigest`: the cookie value (shown to the
   * browser only) and the view with its CSRF token.
   */
  open(principal: AdminPrincipal, tokenDigest: Buffer): { readonly id: string; readonly view: SessionView } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32);
    const now = this.#now();
    this.#evictFor(principal.name);
    const session: Session = { principal, tokenDigest, csrf, createdAt: now, lastSeen: now };
    this.#sessions.set(digest(id), session);
    return { id, view: this.#view(session) };
  }

  /**
   * The live session of the request's cookie (touching it), or undefined. When the cookies name more than one live
   * session nobody can tell which is the operator's (one may be an attacker's, planted to make the operator act as
   * someone else): that is no session.
   */
  lookup(req: IncomingMessage): { readonly key: string; readonly session: Session } | undefined {
    const now = this.#now();
    let found: { key: string; session: Session } | undefined;
    for (const id of sessionCookiesOf(req)) {
      const key = digest(id);
      const session = this.#sessions.get(key);
      if (!session) continue;
      if (!this.#valid(session, now)) {
        this.#sessions.delete(key);
        continue;
      }
      if (found && found.key !== key) return undefined;
      found = { key, session };
    }
    if (!found) return undefined;
    found.session.lastSeen = now;
    // Re-inserted so the map's order is least recently used first (eviction takes the first).
    this.#sessions.delete(found.key);
    this.#sessions.set(found.key, found.session);
    return found;
  }

  /** Whether the request's session is still live, without counting this as use (a long-lived event stream). */
  alive(req: IncomingMessage): boolean {
    const now = this.#now();
    const live = sessionCookiesOf(req).filter((id) => {
      const session = this.#sessions.get(digest(id));
      return session !== undefined && this.#valid(session, now);
    });
    return new Set(live).size === 1;
  }

  /** Whether the request carries a session cookie at all (then it is judged by the session, never by a bearer token). */
  presented(req: IncomingMessage): boolean {
    return PRESENTED.test(req.headers.cookie ?? '');
  }

  /**
   * The caller of a request made with a session cookie: 401 without a live session; 403 `csrf_failed` on a
   * change without the session's CSRF token or from another origin.
   */
  authenticate(req: IncomingMessage): AdminPrincipal {
    const found = this.lookup(req);
    // Cleared, so a planted or stale cookie does not keep shadowing a fresh login.
    if (!found) throw new GatewayError('unauthorized', 'admin dashboard: no live session', { headers: { 'set-cookie': sessionCookie(undefined, 0) } });
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

  /** Within both timeouts, and its token still configured for the same name and role. */
  #valid(session: Session, now: number): boolean {
    if (now - session.lastSeen > this.#idleMs || now - session.createdAt > this.#maxMs) return false;
    const holder = this.#holderOf(session.tokenDigest);
    return holder !== undefined && holder.name === session.principal.name && holder.role === session.principal.role;
  }

  /** Room for one more session of `name`: its own least recently used goes first, then anyone's when all are full. */
  #evictFor(name: string): void {
    let own = 0;
    let oldestOwn: string | undefined;
    for (const [key, session] of this.#sessions) {
      if (session.principal.name !== name) continue;
      own++;
      oldestOwn ??= key;
    }
    if (own >= MAX_SESSIONS_PER_TOKEN && oldestOwn !== undefined) this.#sessions.delete(oldestOwn);
    else if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next();
      if (!oldest.done) this.#sessions.delete(oldest.value);
    }
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
