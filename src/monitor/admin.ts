import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { sendJson, type AdminServer } from '../admin/server.ts';
import { GatewayError } from '../problem.ts';
import type { Monitor } from './monitor.ts';
import type { AdminPrincipal } from '../admin/api/auth.ts';

const MAX_BODY = 16 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new GatewayError('payload_too_large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new GatewayError('bad_request', 'admin body is not a JSON object');
  }
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
  admin.route('GET', '/admin/incidents', async (req, res) => {
    const status = new URL(req.url ?? '/', 'http://admin').searchParams.get('status');
    if (status !== null && status !== 'open' && status !== 'resolved') throw new GatewayError('bad_request', 'status must be open or resolved');
    const list = monitor.incidents ? await monitor.incidents.list({ ...(status ? { status } : {}), limit: 500 }) : monitor.openIncidents();
    sendJson(res, 200, { incidents: list });
  });
  admin.route('GET', '/admin/incidents/:id', async (_req, res, params) => {
    const incident = (await monitor.incidents?.get(params['id']!)) ?? monitor.openIncidents().find((i) => i.id === params['id']);
    if (!incident) throw new GatewayError('not_found');
    sendJson(res, 200, incident);
  });
  admin.route('POST', '/admin/incidents/:id/resolve', async (req, res, params, principal) => {
    const actor = actorOf(principal);
    const body = await readJson(req);
    const note = typeof body['note'] === 'string' ? body['note'] : undefined;
    const incident = await monitor.resolve(params['id']!, actor, note);
    if (!incident) throw new GatewayError('not_found');
    sendJson(res, 200, incident);
  });
  admin.route('GET', '/admin/blocks', (_req, res) => sendJson(res, 200, { blocks: monitor.blocks.list() }));
  admin.route('DELETE', '/admin/blocks/:ip', async (req, res, params, principal) => {
    const actor = actorOf(principal);
    const ip = params['ip']!;
    if (isIP(ip) === 0) throw new GatewayError('bad_request', 'not an IP address');
    await readJson(req); // a body is accepted (bounded) and ignored: the actor is the token's name
    const existed = await monitor.unblock(ip, actor);
    if (!existed) throw new GatewayError('not_found');
    sendJson(res, 200, { ip, lifted: true });
  });
}
