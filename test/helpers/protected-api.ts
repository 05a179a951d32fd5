/**
 * A small notes API written the careful way, for the scanner's precision tests: HS256 tokens verified with jose
 * (algorithm pinned, expiry required), ownership checked on every note, roles checked on the admin operation,
 * readOnly properties refused on writes, paging capped, no SQL, generic problem+json errors, security headers,
 * no banners, encoded traversal refused, undeclared methods 405, a per-IP token bucket per route, and over HTTPS
 * TLS 1.2+ with strong suites only.
 * Contract: test/fixtures/protected-openapi.yaml.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureVersion } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { jwtVerify, SignJWT } from 'jose';

export interface ProtectedApi {
  readonly url: string;
  /** A valid token for a user of the API (`ann` and `ben` are users, `root` an admin). */
  token(user: 'ann' | 'ben' | 'root'): Promise<string>;
  close(): Promise<void>;
}

const USERS = { ann: { id: 'u-ann', role: 'user' }, ben: { id: 'u-ben', role: 'user' }, root: { id: 'u-root', role: 'admin' } } as const;
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};
/** TLS 1.3 suites, then ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 (forward secrecy, no CBC). */
const STRONG_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';
const TITLES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 429: 'Too Many Requests' };

interface Note {
  id: string;
  ownerId: string;
  title: string;
}

class Refusal extends Error {
  readonly status: number;
  constructor(status: number) {
    super(TITLES[status] ?? 'Error');
    this.status = status;
  }
}

/**
 * Starts the API on 127.0.0.1 (ephemeral port). `healthBurst` requests to /health per IP before 429 (refill 1/s).
 * `tls` serves HTTPS (with HSTS) instead, TLS 1.2+ unless `minVersion` says otherwise.
 */
export async function startProtectedApi(options: { healthBurst?: number; tls?: { cert: string; key: string; minVersion?: SecureVersion } } = {}): Promise<ProtectedApi> {
  const secret = new TextEncoder().encode('protected-api-test-secret-0123456789abcdef');
  const names = new Map<string, string>(Object.values(USERS).map((u) => [u.id, u.id.slice(2)]));
  const notes: Note[] = [
    { id: 'n-1', ownerId: 'u-ann', title: 'Ann first' },
    { id: 'n-2', ownerId: 'u-ann', title: 'Ann second' },
    { id: 'n-3', ownerId: 'u-ben', title: 'Ben first' },
    { id: 'n-4', ownerId: 'u-root', title: 'Root note' },
  ];
  let seq = notes.length;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const allow = (key: string, capacity: number, perSecond: number) => {
    const now = Date.now();
    const b = buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  };

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    const payload = JSON.stringify(body);
    const hsts = options.tls ? { 'strict-transport-security': 'max-age=31536000' } : {};
    res.writeHead(status, { ...SECURITY_HEADERS, ...hsts, 'content-type': type, 'content-length': String(Buffer.byteLength(payload)) });
    res.end(payload);
  };
  const problem = (res: ServerResponse, status: number) => send(res, status, { type: 'about:blank', title: TITLES[status] ?? 'Error', status }, 'application/problem+json');

  async function caller(req: IncomingMessage): Promise<{ id: string; role: string }> {
    const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(req.headers.authorization ?? '');
    if (!match?.[1]) throw new Refusal(401);
    try {
      const { payload } = await jwtVerify(match[1], secret, { algorithms: ['HS256'], issuer: 'protected-api', audience: 'notes', requiredClaims: ['exp', 'sub'] });
      const user = Object.values(USERS).find((u) => u.id === payload.sub);
      if (!user) throw new Refusal(401);
      return user;
    } catch {
      throw new Refusal(401);
    }
  }

  async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 16 * 1024) throw new Refusal(400);
      chunks.push(chunk as Buffer);
    }
    try {
      const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Refusal(400);
      return value as Record<string, unknown>;
    } catch {
      throw new Refusal(400);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    // Refuse anything a URL parser would normalise: encoded dots, dot-segments, backslashes, NUL.
    if (/%2e|%2f|%5c|%00|\\|\/\.\.?(\/|$)/i.test(raw)) throw new Refusal(400);
    const [path = '/', query = ''] = raw.split('?', 2);
    const params = new URLSearchParams(query);
    const method = req.method ?? 'GET';
    const ip = req.socket.remoteAddress ?? '?';
    const routeKey = path.startsWith('/notes/') ? '/notes/{id}' : path;
    const healthy = path === '/health';
    if (!allow(`${ip} ${routeKey}`, healthy ? (options.healthBurst ?? 10) : 100, healthy ? 1 : 100)) throw new Refusal(429);
    const only = (...methods: string[]) => {
      if (!methods.includes(method)) throw new Refusal(405);
    };
    if (path === '/health') {
      only('GET');
      return send(res, 200, { status: 'ok' });
    }
    if (path === '/me') {
      only('GET', 'PATCH');
      const user = await caller(req);
      if (method === 'PATCH') {
        const body = await jsonBody(req);
        const keys = Object.keys(body);
        if (keys.length === 0 || keys.some((k) => k !== 'name') || typeof body['name'] !== 'string' || body['name'].length < 1 || body['name'].length > 50) throw new Refusal(400);
        names.set(user.id, body['name']);
      }
      return send(res, 200, { id: user.id, name: names.get(user.id) ?? '', role: user.role });
    }
    if (path === '/notes') {
      only('GET', 'POST');
      const user = await caller(req);
      if (method === 'POST') {
        const body = await jsonBody(req);
        if (Object.keys(body).some((k) => k !== 'title') || typeof body['title'] !== 'string' || body['title'].length < 1 || body['title'].length > 100) throw new Refusal(400);
        if (notes.length >= 1000) throw new Refusal(400);
        const note = { id: `n-${++seq}`, ownerId: user.id, title: body['title'] };
        notes.push(note);
        return send(res, 201, note);
      }
      const limitRaw = params.get('limit');
      const limit = limitRaw === null ? 20 : Number(limitRaw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 50 || [...params.keys()].some((k) => k !== 'limit')) throw new Refusal(400);
      return send(res, 200, notes.filter((n) => n.ownerId === user.id).slice(0, limit));
    }
    if (/^\/notes\/[^/]+$/.test(path)) {
      only('GET');
      const user = await caller(req);
      const note = notes.find((n) => n.id === decodeURIComponent(path.slice('/notes/'.length)));
      if (!note || note.ownerId !== user.id) throw new Refusal(404);
      return send(res, 200, note);
    }
    if (path === '/search') {
      only('GET');
      const user = await caller(req);
      const q = params.get('q') ?? '';
      if (q.length > 100) throw new Refusal(400);
      return send(res, 200, notes.filter((n) => n.ownerId === user.id && n.title.includes(q)).slice(0, 50));
    }
    if (path === '/admin/stats') {
      only('GET');
      const user = await caller(req);
      if (user.role !== 'admin') throw new Refusal(403);
      return send(res, 200, { notes: notes.length });
    }
    throw new Refusal(404);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) problem(res, error instanceof Refusal ? error.status : 500);
      else res.destroy();
    });
  };
  const tls = options.tls;
  const legacy = tls?.minVersion === 'TLSv1' || tls?.minVersion === 'TLSv1.1';
  // Strong suites only (ECDHE with AEAD on TLS 1.2, as Rampart's listener); the legacy variant needs CBC suites.
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: tls.minVersion ?? 'TLSv1.2', ciphers: legacy ? 'DEFAULT@SECLEVEL=0' : STRONG_CIPHERS }, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    token: (user) => new SignJWT({ role: USERS[user].role }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(USERS[user].id).setIssuer('protected-api').setAudience('notes').setIssuedAt().setExpirationTime('10m').sign(secret),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
