import { isIP } from 'node:net';
import type { Counters, LoginRegistration } from '../counters/index.ts';
import { storageKey } from '../counters/algorithms.ts';
import { inFlight } from '../policies/concurrency/index.ts';
import { GatewayError } from '../problem.ts';
import { ADMIN_API_BASE, sendJson, type AdminHandler } from './server.ts';
import { pageInMemory, queryOf } from './paging.ts';

const MAX_LIST = 1000;
const MAX_RESET = 100_000;

/** Wraps an admin handler (the gateway audits changes this way; authentication is the AdminServer's). */
export type AdminWrap = (handler: AdminHandler, route: { readonly method: string; readonly path: string }) => AdminHandler;

export interface AdminRouteDef {
  readonly method: 'GET' | 'DELETE';
  readonly path: string;
  readonly handler: AdminHandler;
}

function param(query: URLSearchParams, name: string, pattern: RegExp): string | undefined {
  const value = query.get(name) ?? undefined;
  if (value !== undefined && !pattern.test(value)) throw new GatewayError('bad_request', `invalid ${name}`);
  return value;
}

const PREFIX = /^[A-Za-z0-9_:.|@-]{1,256}$/;

/** The login routes of the route table serving now (RouteTable.logins: replaced by a reload, kept by a rejected one). */
export type LoginSource = () => ReadonlyMap<string, LoginRegistration>;

/** The `ip` query parameter: a client address or a counted network address; undefined when absent. */
function ipParam(query: URLSearchParams): string | undefined {
  const ip = query.get('ip') ?? undefined;
  if (ip !== undefined && isIP(ip) === 0) throw new GatewayError('bad_request', 'invalid ip');
  return ip;
}

/** Failure-counter entries of one login route: `kind` (ip, acct, ipacct), ip and hashed account where present. */
async function lockoutEntries(counters: Counters, route: string, group: string): Promise<Record<string, unknown>[]> {
  const prefix = storageKey(group, '');
  const listed = await counters.shared.list(prefix, MAX_LIST);
  const keys = listed.map((e) => e.key.slice(e.key.indexOf(prefix) + prefix.length)).filter((k) => /^(ip|acct|ipacct):/.test(k));
  if (keys.length === 0) return [];
  const states = await counters.shared.peek(group, keys);
  return keys.flatMap((k, i) => {
    const state = states[i]!;
    if (state.count === 0) return [];
    const [kind, ...rest] = k.split(':');
    const account = kind === 'acct' ? rest.join(':') : kind === 'ipacct' ? rest.at(-1) : undefined;
    const ip = kind === 'ip' ? rest.join(':') : kind === 'ipacct' ? rest.slice(0, -1).join(':') : undefined;
    return [{ route, kind, ip, account, failures: state.count, ttlMs: state.ttlMs }];
  });
}

/**
 * The rate-limit admin routes: list and reset counters, list and lift brute-force lockouts, show in-flight
 * counts. Accounts are only ever shown hashed; to lift an account's lockout pass its identifier and it is hashed
 * with the route's key.
 *
 * - `GET /admin/v1/ratelimit/counters?prefix=rl:orders` — stored counters (at most 1000) with their remaining TTL.
 * - `DELETE /admin/v1/ratelimit/counters?prefix=rl:orders:per-ip` — deletes counters under a prefix (a prefix is required).
 * - `GET /admin/v1/ratelimit/lockouts[?ip=…]` — failure counters of every login route (of one client's network).
 * - `DELETE /admin/v1/ratelimit/lockouts?ip=…&account=…` — clears failures for an IP, an account, or the pair.
 *
 * `ip` may be a full client address: it is mapped to the network the route counts it under (IPv6 by
 * `counters.ipv6_prefix`, default /64; IPv4-mapped IPv6 as IPv4), so lifting `2001:db8::5` lifts `2001:db8::/64`.
 * - `GET /admin/v1/ratelimit/concurrency` — requests in flight per concurrency key in this process.
 */
export function rateLimitAdminRoutes(counters: Counters, logins: LoginSource): AdminRouteDef[] {
  return [
    {
      method: 'GET',
      path: `${ADMIN_API_BASE}/ratelimit/counters`,
      handler: async (req, res) => {
        const query = queryOf(req.url);
        const prefix = param(query, 'prefix', PREFIX) ?? '';
        const entries = await counters.shared.list(prefix === '' ? '' : `{${prefix}`, MAX_LIST);
        // The backend lists at most MAX_LIST counters: say so rather than page as if that were all.
        sendJson(res, 200, { backend: counters.shared.kind, truncated: entries.length >= MAX_LIST, ...pageInMemory(entries, query, (e) => e.key) });
      },
    },
    {
      method: 'DELETE',
      path: `${ADMIN_API_BASE}/ratelimit/counters`,
      handler: async (req, res) => {
        const prefix = param(queryOf(req.url), 'prefix', PREFIX);
        if (prefix === undefined) throw new GatewayError('bad_request', 'prefix is required');
        const removed = await counters.shared.reset(`{${prefix}`, MAX_RESET);
        const local = counters.local === counters.shared ? 0 : await counters.local.reset(`{${prefix}`, MAX_RESET);
        sendJson(res, 200, { removed: removed + local });
      },
    },
    {
      method: 'GET',
      path: `${ADMIN_API_BASE}/ratelimit/lockouts`,
      handler: async (req, res) => {
        const query = queryOf(req.url);
        const ip = ipParam(query);
        const entries: Record<string, unknown>[] = [];
        for (const [route, login] of logins()) {
          const network = ip === undefined ? undefined : login.network(ip);
          entries.push(...(await lockoutEntries(counters, route, login.group)).filter((e) => network === undefined || e['ip'] === network));
        }
        sendJson(res, 200, pageInMemory(entries, query, (e) => [e['route'], e['kind'], e['ip'], e['account']].join('|')));
      },
    },
    {
      method: 'DELETE',
      path: `${ADMIN_API_BASE}/ratelimit/lockouts`,
      handler: async (req, res) => {
        const query = queryOf(req.url);
        const ip = ipParam(query);
        const account = query.get('account') ?? undefined;
        if (ip === undefined && account === undefined) throw new GatewayError('bad_request', 'ip or account is required');
        if (account !== undefined && (account.length === 0 || account.length > 256)) throw new GatewayError('bad_request', 'invalid account');
        let cleared = 0;
        for (const [route, login] of logins()) {
          const hashed = account === undefined ? undefined : login.hashAccount(account);
          const network = ip === undefined ? undefined : login.network(ip);
          const entries = await lockoutEntries(counters, route, login.group);
          const keys = entries
            .filter((e) => (network === undefined || e['ip'] === network) && (hashed === undefined || e['account'] === hashed))
            .filter((e) => !(network !== undefined && hashed !== undefined) || e['kind'] === 'ipacct')
            .map((e) => [e['kind'], e['ip'], e['account']].filter((p) => p !== undefined).join(':'));
          if (keys.length === 0) continue;
          await counters.shared.clear(login.group, keys);
          if (counters.local !== counters.shared) await counters.local.clear(login.group, keys);
          cleared += keys.length;
        }
        sendJson(res, 200, { cleared });
      },
    },
    { method: 'GET', path: `${ADMIN_API_BASE}/ratelimit/concurrency`, handler: (req, res) => sendJson(res, 200, pageInMemory(Object.entries(inFlight.snapshot()).map(([key, count]) => ({ key, inFlight: count })), queryOf(req.url), (e) => e.key)) },
  ];
}

/**
 * Registers the rate-limit admin routes on the admin listener (authenticated there: GET needs `read_only`, DELETE
 * `admin`), each through `wrap` (default: as is).
 */
export function registerRateLimitAdmin(
  admin: { route(method: string, path: string, handler: AdminHandler): void },
  counters: Counters,
  logins: LoginSource,
  wrap: AdminWrap = (h) => h,
): void {
  for (const r of rateLimitAdminRoutes(counters, logins)) admin.route(r.method, r.path, wrap(r.handler, r));
}

