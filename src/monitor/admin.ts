import { isIP } from 'node:net';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../admin/server.ts';
import { cursorOf, pageInMemory, pageOf, pageSize, queryOf } from '../admin/paging.ts';
import { GatewayError } from '../problem.ts';
import type { Monitor } from './monitor.ts';
import type { AdminPrincipal } from '../admin/api/auth.ts';
import { readJson } from '../admin/api/routes.ts';

const MAX_BODY = 16 * 1024;
const INCIDENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Sorts newest first under an ascending string order (the in-memory pager's). */
function invertedTime(iso: string): string {
  return String(9_999_999_999_999 - Date.parse(iso)).padStart(13, '0');
}

/** Who performed an admin action: the authenticated admin token's name (never a body field). */
function actorOf(principal: AdminPrincipal | undefined): string {
  if (!principal) throw new GatewayError('unauthorized', 'monitor admin route reached without a principal');
  return principal.name;
}

/**
 * Admin routes for the monitor on the admin listener: `GET /metrics` (Prometheus text), incidents (list, show,
 * resolve — resolving reverts its containment) and IP blocks (list, lift). The AdminServer authenticates every
 * one (GET `read_only`, changes `admin`); every change is audited with the token's name as the actor. Also adds the
 * monitor's readiness detail (the audit head state) to /readyz.
 */
export function registerMonitorRoutes(admin: AdminServer, monitor: Monitor): void {
  admin.addReadinessDetail(() => monitor.readinessDetail());
  admin.route('GET', '/metrics', async (_req, res) => {
    const text = await monitor.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': monitor.metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(text);
  });
  admin.route('GET', `${ADMIN_API_BASE}/incidents`, async (req, res) => {
    const q = queryOf(req.url);
    const status = q.get('status');
    if (status !== null && status !== 'open' && status !== 'resolved') throw new GatewayError('bad_request', 'status must be open or resolved');
    const size = pageSize(q);
    const after = cursorOf(q, INCIDENT_ID);
    if (!monitor.incidents) {
      // No incident store (audit off): the open incidents this process holds, newest first.
      const open = status === 'resolved' ? [] : monitor.openIncidents();
      sendJson(res, 200, pageInMemory(open, q, (i) => `${invertedTime(i.firstSeen)}:${i.id}`));
      return;
    }
    // A cursor naming an incident that is gone would read as "no more pages": refuse it instead.
    if (after && !(await monitor.incidents.get(after))) throw new GatewayError('validation_failed', 'admin API: after names no incident', { errors: [{ pointer: 'query/after', message: 'is not a cursor from a previous page' }] });
    const rows = await monitor.incidents.list({ ...(status ? { status } : {}), limit: size + 1, ...(after ? { after } : {}) });
    sendJson(res, 200, pageOf(rows, size, (i) => i.id, (i) => i));
  });
  admin.route('GET', `${ADMIN_API_BASE}/incidents/:id`, async (_req, res, params) => {
    const incident = (await monitor.incidents?.get(params['id']!)) ?? monitor.openIncidents().find((i) => i.id === params['id']);
    if (!incident) throw new GatewayError('not_found');
    sendJson(res, 200, incident);
  });
  admin.route('POST', `${ADMIN_API_BASE}/incidents/:id/resolve`, async (req, res, params, principal) => {
    const actor = actorOf(principal);
    const body = await readJson(req, MAX_BODY);
    const note = typeof body['note'] === 'string' ? body['note'] : undefined;
    const incident = await monitor.resolve(params['id']!, actor, note);
    if (!incident) throw new GatewayError('not_found');
    sendJson(res, 200, incident);
  });
  admin.route('GET', `${ADMIN_API_BASE}/blocks`, (req, res) => sendJson(res, 200, pageInMemory(monitor.blocks.list(), queryOf(req.url), (b) => b.ip)));
  admin.route('DELETE', `${ADMIN_API_BASE}/blocks/:ip`, async (req, res, params, principal) => {
    const actor = actorOf(principal);
    const ip = params['ip']!;
    if (isIP(ip) === 0) throw new GatewayError('bad_request', 'not an IP address');
    await readJson(req, MAX_BODY); // a body is accepted (bounded) and ignored: the actor is the token's name
    const existed = await monitor.unblock(ip, actor);
    if (!existed) throw new GatewayError('not_found');
    sendJson(res, 200, { ip, lifted: true });
  });
}
