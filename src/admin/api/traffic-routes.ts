import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecurityEvent, SecurityEvents } from '../../bus/events.ts';
import type { Incident } from '../../monitor/incidents.ts';
import type { TrafficStats } from '../../monitor/traffic.ts';
import { GatewayError } from '../../problem.ts';
import { queryOf } from '../paging.ts';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../server.ts';

/** Event streams open at once on one admin listener. */
export const MAX_STREAMS = 16;
/** Event streams one token (and its sessions) may hold, so one caller cannot take every slot. */
export const MAX_STREAMS_PER_CALLER = 4;
/** How often a stream gets a traffic snapshot (also its heartbeat). */
export const STREAM_TICK_MS = 2000;
/** Security events a stream relays per tick; more are counted as dropped (an attack must not flood the browser). */
const MAX_EVENTS_PER_TICK = 50;
const DEFAULT_WINDOW_S = 300;

export interface TrafficSources {
  readonly traffic: TrafficStats;
  readonly events: SecurityEvents;
  onIncident(listener: (event: 'incident.opened' | 'incident.updated' | 'incident.resolved', incident: Incident) => void): () => void;
  /** Whether the stream's caller may still read (a session that ended closes its stream). */
  stillAllowed(req: IncomingMessage): boolean;
}

function windowOf(q: URLSearchParams): number {
  const raw = q.get('window');
  if (raw === null) return DEFAULT_WINDOW_S;
  if (!/^[0-9]{1,4}$/.test(raw) || Number(raw) < 10 || Number(raw) > 3600) {
    throw new GatewayError('validation_failed', 'admin API: query/window out of range', { errors: [{ pointer: 'query/window', message: 'must be seconds from 10 to 3600' }] });
  }
  return Number(raw);
}

/** What a stream relays of a security event: ids and reason codes, never the event's free-form fields. */
function eventView(e: SecurityEvent & { readonly at: number }): Record<string, unknown> {
  return { type: e.type, at: new Date(e.at).toISOString(), ip: e.ip, consumer: e.consumer, key_id: e.keyId, method: e.method, reason: e.reason, request_id: e.requestId };
}

function incidentView(event: string, i: Incident): Record<string, unknown> {
  return { event, id: i.id, kind: i.kind, severity: i.severity, status: i.status, summary: i.summary, subject: i.subject, actions: i.actions.map((a) => ({ type: a.type, target: a.target, status: a.status })) };
}

/**
 * `GET /admin/v1/traffic?window=` (requests, denies per code, latency percentiles, top consumers and client IPs of
 * this instance) and `GET /admin/v1/stream`, a server-sent event stream of `traffic` snapshots every 2 s,
 * `security` events (security bus events and denied requests) and `incident` openings, updates and resolutions. At most MAX_STREAMS streams at once (429 past it);
 * a slow reader is cut off rather than buffered for, and a stream ends when its session does.
 */
export function registerTrafficRoutes(admin: AdminServer, sources: TrafficSources): void {
  const streams = new Set<ServerResponse>();
  const perCaller = new Map<string, number>();
  admin.route('GET', `${ADMIN_API_BASE}/traffic`, (req, res) => sendJson(res, 200, sources.traffic.summary(windowOf(queryOf(req.url)))));
  admin.route('GET', `${ADMIN_API_BASE}/stream`, (req, res, _params, principal) => {
    const window = windowOf(queryOf(req.url));
    const caller = principal?.name ?? '';
    const held = perCaller.get(caller) ?? 0;
    if (streams.size >= MAX_STREAMS || held >= MAX_STREAMS_PER_CALLER) throw new GatewayError('too_many_concurrent', 'admin API: too many event streams', { headers: { 'retry-after': '5' } });
    streams.add(res);
    perCaller.set(caller, held + 1);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-accel-buffering': 'no' });
    let pending: Record<string, unknown>[] = [];
    let dropped = 0;
    const send = (event: string, data: unknown) => {
      // A reader that does not keep up is cut off: the kernel and socket buffers are all it may hold.
      if (res.writableLength > 1 << 20) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const offEvents = sources.events.on((e) => {
      if (pending.length < MAX_EVENTS_PER_TICK) pending.push(eventView(e));
      else dropped++;
    });
    const offDenies = sources.traffic.onDeny((o) => {
      if (pending.length < MAX_EVENTS_PER_TICK) pending.push({ type: 'deny', at: new Date().toISOString(), ip: o.clientIp, consumer: o.identity?.consumer ?? o.identity?.subject, key_id: o.identity?.keyId, reason: o.code, request_id: o.requestId, route: o.route === undefined ? undefined : `${o.method} ${o.route}` });
      else dropped++;
    });
    const offIncidents = sources.onIncident((event, incident) => send('incident', incidentView(event, incident)));
    const tick = () => {
      if (!sources.stillAllowed(req)) {
        send('session', { ended: true });
        res.end();
        return;
      }
      if (pending.length > 0 || dropped > 0) send('security', { events: pending, dropped });
      pending = [];
      dropped = 0;
      send('traffic', sources.traffic.summary(window));
    };
    const timer = setInterval(tick, STREAM_TICK_MS);
    res.write('retry: 5000\n\n');
    tick();
    res.on('close', () => {
      clearInterval(timer);
      offEvents();
      offDenies();
      offIncidents();
      streams.delete(res);
      const left = (perCaller.get(caller) ?? 1) - 1;
      if (left > 0) perCaller.set(caller, left);
      else perCaller.delete(caller);
    });
  });
}
