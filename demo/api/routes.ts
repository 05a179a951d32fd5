/**
 * The demo API's routes, written the naive way on purpose: no ownership checks, no role checks, internal fields in
 * every response, mass assignment, operator injection in search, SQL injection in the product search, verbose errors. Rampart is what makes it safe.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError, readText, sendEmpty, sendJson } from '../http.ts';
import { hashPassword, verifyPassword } from '../password.ts';
import { callerId } from './caller.ts';
import type { DemoRepo, UserRow } from './repo.ts';
import { matchesFilter } from './search.ts';

/** Longest sleep GET /slow honours, in milliseconds. */
export const MAX_SLOW_MS = 30_000;
/** Largest body GET /big produces, in KiB. */
export const MAX_BIG_KB = 32_768;

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  repo: DemoRepo;
  signal: AbortSignal;
}

interface Route {
  method: string;
  path: string;
  segments: string[];
  handler: (ctx: Ctx) => Promise<void> | void;
}

/** A parsed JSON body, used without any checking (the casts below are the naivety, not type safety). */
type Unchecked = Record<string, unknown>;

// Naive: JSON.parse errors propagate and become a 500 with the parser's stack; a non-object body is not refused.
async function readJson(req: IncomingMessage): Promise<Unchecked> {
  return JSON.parse(await readText(req)) as Unchecked;
}

function requireCaller(ctx: Ctx): string {
  const sub = callerId(ctx.req);
  if (sub === undefined) throw new HttpError(401, { error: 'missing or invalid bearer token' });
  return sub;
}

function requireCallerUser(ctx: Ctx): UserRow {
  const sub = requireCaller(ctx);
  const user = ctx.repo.getUser(sub);
  if (!user) throw new HttpError(401, { error: `unknown user ${sub}` });
  return user;
}

function notFound(kind: string, id: string | undefined): never {
  throw new HttpError(404, { error: `${kind} not found`, id, hint: `no ${kind} with id ${String(id)} in table ${kind}s` });
}

/**
 * Errors are RFC 9457 problem documents, as demo/openapi.yaml says, but naive ones: every internal detail (messages,
 * ids, stack traces, the route list) rides along as extension members for Rampart's response contract to strip.
 */
function sendProblem(res: ServerResponse, status: number, details: Record<string, unknown>): void {
  const payload = Buffer.from(JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, ...details }), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Content-Length': String(payload.length) });
  res.end(payload);
}

function intParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const n = Math.floor(Number(query.get(name) ?? fallback));
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), max) : fallback;
}

const ROUTE_TABLE: Array<[string, string, Route['handler']]> = [
  ['GET', '/health', ({ res }) => sendJson(res, 200, { status: 'ok' })],

  [
    'POST',
    '/auth/login',
    async ({ req, res, repo }) => {
      const body = await readJson(req);
      const password = body['password'];
      const user = repo.getUserByUsername(body['username'] as string);
      const ok = user !== undefined && typeof password === 'string' && (await verifyPassword(password, user.passwordHash));
      if (!ok) return sendProblem(res, 401, { error: 'invalid credentials' });
      sendJson(res, 200, { user });
    },
  ],

  ['GET', '/users/me', (ctx) => sendJson(ctx.res, 200, requireCallerUser(ctx))],

  [
    'PATCH',
    '/users/me',
    async (ctx) => {
      const me = requireCallerUser(ctx);
      const body = await readJson(ctx.req);
      // Mass assignment on purpose: every provided column is written, role and isAdmin included.
      const fields: Record<string, unknown> = { ...body };
      if (typeof body['password'] === 'string') fields['passwordHash'] = await hashPassword(body['password']);
      sendJson(ctx.res, 200, ctx.repo.updateUser(me.id, fields));
    },
  ],

  [
    'GET',
    '/users/:userId',
    ({ res, repo, params }) => sendJson(res, 200, repo.getUser(params['userId'] ?? '') ?? notFound('user', params['userId'])),
  ],

  ['GET', '/accounts', ({ res, repo, query }) => sendJson(res, 200, repo.listAccounts(query.get('tenantId') ?? undefined))],

  [
    'GET',
    '/accounts/:accountId',
    ({ res, repo, params }) => sendJson(res, 200, repo.getAccount(params['accountId'] ?? '') ?? notFound('account', params['accountId'])),
  ],

  [
    'GET',
    '/orders',
    ({ res, repo, query }) => {
      const limit = query.get('limit');
      sendJson(
        res,
        200,
        repo.listOrders({
          status: query.get('status') ?? undefined,
          limit: limit === null ? undefined : Number(limit),
        }),
      );
    },
  ],

  [
    'POST',
    '/orders',
    async (ctx) => {
      const ownerId = requireCaller(ctx);
      const body = await readJson(ctx.req);
      const account = ctx.repo.getAccount(body['accountId'] as string);
      // No check that the account belongs to the caller; status, tenantId and internalNotes accepted from the client.
      const order = ctx.repo.createOrder({
        accountId: body['accountId'] as string,
        ownerId,
        tenantId: (body['tenantId'] as string | undefined) ?? account?.tenantId ?? ctx.repo.getUser(ownerId)?.tenantId ?? 'unknown',
        item: body['item'] as string,
        quantity: body['quantity'] as number,
        amount: body['amount'] as number,
        status: (body['status'] as string | undefined) ?? 'pending',
        internalNotes: (body['internalNotes'] as string | undefined) ?? '',
      });
      sendJson(ctx.res, 201, order);
    },
  ],

  ['GET', '/products', ({ res, repo, query }) => sendJson(res, 200, repo.searchProducts(query.get('q') ?? ''))],

  [
    'POST',
    '/orders/search',
    async ({ req, res, repo }) => {
      const filter = await readJson(req);
      const all = repo.listOrders({});
      sendJson(
        res,
        200,
        all.filter((o) => matchesFilter(o as unknown as Record<string, unknown>, filter)),
      );
    },
  ],

  [
    'GET',
    '/orders/:orderId',
    ({ res, repo, params }) => sendJson(res, 200, repo.getOrder(params['orderId'] ?? '') ?? notFound('order', params['orderId'])),
  ],

  ['GET', '/admin/users', ({ res, repo }) => sendJson(res, 200, repo.listUsers())],

  [
    'DELETE',
    '/admin/users/:userId',
    ({ res, repo, params }) => {
      if (!repo.deleteUser(params['userId'] ?? '')) notFound('user', params['userId']);
      sendEmpty(res, 204);
    },
  ],

  [
    'GET',
    '/slow',
    async ({ res, query, signal }) => {
      const ms = intParam(query, 'ms', 0, MAX_SLOW_MS);
      await sleep(ms, undefined, { signal });
      sendJson(res, 200, { sleptMs: ms });
    },
  ],

  [
    'GET',
    '/big',
    ({ res, query }) => {
      // Each item costs exactly 1024 bytes of JSON: 1021 characters, two quotes and a comma.
      const kb = intParam(query, 'kb', 1, MAX_BIG_KB);
      sendJson(res, 200, { kb, items: Array.from({ length: kb }, () => 'x'.repeat(1021)) });
    },
  ],
];

const ROUTES: Route[] = ROUTE_TABLE.map(([method, path, handler]) => ({
  method,
  path,
  segments: path.split('/').slice(1),
  handler,
}));

function match(method: string, pathname: string): { route: Route; params: Record<string, string> } | undefined {
  const parts = pathname.split('/').slice(1);
  for (const route of ROUTES) {
    if (route.method !== method || route.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = route.segments.every((seg, i) => {
      const part = parts[i] ?? '';
      if (seg.startsWith(':')) {
        params[seg.slice(1)] = decodeURIComponent(part); // throws on bad encoding → verbose 500
        return part !== '';
      }
      return seg === part;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/**
 * Builds the request handler for the demo API over `repo`. `signal` aborts pending sleeps (GET /slow) on shutdown.
 * Unknown routes answer 404 listing every route; any thrown error answers 500 with its stack (on purpose).
 */
export function createDemoHandler(repo: DemoRepo, signal: AbortSignal): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://demo-api.local');
      const method = req.method ?? 'GET';
      const found = match(method, url.pathname);
      if (!found) {
        sendProblem(res, 404, {
          error: 'Not Found',
          message: `Cannot ${method} ${url.pathname}`,
          method,
          path: url.pathname,
          availableRoutes: ROUTES.map((r) => `${r.method} ${r.path}`),
          server: `demo-api/1.0 (Node.js ${process.version}; ${process.platform})`,
        });
        return;
      }
      await found.route.handler({ req, res, params: found.params, query: url.searchParams, repo, signal });
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
      } else if (err instanceof HttpError) {
        sendProblem(res, err.status, err.body);
      } else {
        const e = err instanceof Error ? err : new Error(String(err));
        sendProblem(res, 500, { error: e.message, name: e.name, stack: e.stack });
      }
    }
  };
}
