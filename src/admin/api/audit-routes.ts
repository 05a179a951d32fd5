import type { ServerResponse } from 'node:http';
import type { AuditService } from '../../audit/service.ts';
import type { AuditRecord } from '../../audit/chain.ts';
import { verifyChain, type VerifyResult } from '../../audit/verify.ts';
import { isDateTime } from '../../openapi/ajv.ts';
import { GatewayError } from '../../problem.ts';
import { cursorOf, pageOf, pageSize, queryOf } from '../paging.ts';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../server.ts';

const TYPE = /^[a-z0-9_.]{1,64}$/;
const MAX_TEXT = 200;
/** Records read per query while exporting. */
const EXPORT_PAGE = 1000;
/** Exports running at once on one listener (each walks the whole trail). */
const MAX_EXPORTS = 2;

function invalid(name: string, message: string): GatewayError {
  return new GatewayError('validation_failed', `admin API: query/${name} ${message}`, { errors: [{ pointer: `query/${name}`, message }] });
}

/** The search filter of a query: `type`, `text` (substring of the fields), `since`/`until` (RFC 3339). */
function filterOf(q: URLSearchParams): { type?: string; text?: string; since?: string; until?: string } {
  const type = q.get('type');
  if (type !== null && !TYPE.test(type)) throw invalid('type', 'must be a record type such as auth.failure');
  const text = q.get('text');
  if (text !== null && text.length > MAX_TEXT) throw invalid('text', `must be at most ${MAX_TEXT} characters`);
  const time = (name: 'since' | 'until') => {
    const value = q.get(name);
    if (value === null) return undefined;
    // A leap second (…T23:59:60Z) is RFC 3339 but no Date: refused like any other unusable time.
    const ms = isDateTime(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(ms)) throw invalid(name, 'must be an RFC 3339 date-time');
    return new Date(ms).toISOString();
  };
  const since = time('since');
  const until = time('until');
  return { ...(type ? { type } : {}), ...(text ? { text } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}) };
}

async function write(res: ServerResponse, text: string): Promise<void> {
  if (!res.write(text)) await new Promise<void>((resolve, reject) => {
    res.once('drain', resolve);
    res.once('close', () => reject(new Error('client went away during the export')));
  });
}

/**
 * The audit trail on the admin API (read_only): `GET /audit/records` (search, newest first, paged by seq),
 * `GET /audit/export` (every matching record as JSON lines, oldest first, with hashes and MACs so it can be
 * verified offline) and `GET /audit/verify` (the whole chain checked against the published head; one run at a
 * time, a second caller waits for the same result instead of starting another walk).
 */
export function registerAuditRoutes(admin: AdminServer, audit: () => AuditService | undefined): void {
  const required = () => {
    const service = audit();
    if (!service) throw new GatewayError('not_found', 'the audit trail is off');
    return service;
  };
  admin.route('GET', `${ADMIN_API_BASE}/audit/records`, async (req, res) => {
    const service = required();
    const q = queryOf(req.url);
    const size = pageSize(q);
    const after = cursorOf(q, /^[0-9]{1,15}$/);
    const rows = await service.store.search({ ...filterOf(q), limit: size + 1, newestFirst: true, ...(after ? { beforeSeq: Number(after) } : {}) });
    sendJson(res, 200, pageOf(rows, size, (r) => String(r.seq), (r: AuditRecord) => r));
  });
  let exports = 0;
  admin.route('GET', `${ADMIN_API_BASE}/audit/export`, async (req, res) => {
    const service = required();
    const filter = filterOf(queryOf(req.url));
    if (exports >= MAX_EXPORTS) throw new GatewayError('too_many_concurrent', 'admin API: an audit export is already running', { headers: { 'retry-after': '5' } });
    exports++;
    res.once('close', () => exports--);
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'content-disposition': 'attachment; filename="rampart-audit.jsonl"',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    // The search's own query, paged by seq: the export holds exactly what the search shows.
    let after = 0;
    for (;;) {
      const page = await service.store.search({ ...filter, afterSeq: after, limit: EXPORT_PAGE });
      if (page.length === 0) break;
      await write(res, page.map((r) => `${JSON.stringify(r)}\n`).join(''));
      after = page[page.length - 1]!.seq;
      if (page.length < EXPORT_PAGE) break;
    }
    res.end();
  });
  let running: Promise<VerifyResult> | undefined;
  admin.route('GET', `${ADMIN_API_BASE}/audit/verify`, async (_req, res) => {
    const service = required();
    const head = service.head.current();
    running ??= verifyChain(service.store, service.key, head ? { heads: [head] } : {}).finally(() => {
      running = undefined;
    });
    const result = await running;
    sendJson(res, 200, { ...result, head: head ?? null, head_status: service.headStatus() });
  });
}
