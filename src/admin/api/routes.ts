import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SignedHead } from '../../audit/head.ts';
import type { Logger } from '../../log.ts';
import { GatewayError } from '../../problem.ts';
import { StoreError } from '../../store/types.ts';
import { ADMIN_API_BASE, sendJson, type AdminServer } from '../server.ts';
import { consumerView, keyView, signatureKeyView, type AdminActions } from './actions.ts';
import type { AdminAuth, AdminRole } from './auth.ts';
import type { AdminConfig } from './schema.ts';
import { ADMIN_OPENAPI } from '../openapi.ts';
import { cursorOf, pageOf, pageSize, queryOf } from '../paging.ts';
import { isDateTime } from '../../openapi/ajv.ts';


type Body = Record<string, unknown>;
type Route = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, actor: string, body: Body) => Promise<void>;

/**
 * Registers the admin API on the admin listener. The AdminServer authenticates every route (`admin.tokens`);
 * each route here also states its role (read-only routes `read_only`, changes `admin`) and checks it against the
 * caller with `auth`. Every change is recorded as an admin event by AdminActions. Keys are never listed with their
 * secret or hash; the secret appears once, in the create/rotate response. `auditHead` gives the newest signed
 * audit head for `GET /audit/head` (404 before the first, or with the audit trail off).
 */
export function registerAdminApi(admin: AdminServer, auth: AdminAuth, actions: AdminActions, config: AdminConfig, logger: Logger, auditHead?: () => SignedHead | undefined): void {
  const store = actions.store;
  const add = (method: string, path: string, role: AdminRole, handler: Route) => {
    admin.route(method, ADMIN_API_BASE + path, async (req, res, params, caller) => {
      const principal = caller ? auth.authorize(caller, role) : auth.require(req, role);
      const body = method === 'POST' || method === 'PATCH' ? await readJson(req, config.max_body_bytes) : {};
      try {
        await handler(req, res, params, principal.name, body);
      } catch (error) {
        throw mapStoreError(error);
      }
      if (role === 'admin') logger.info({ actor: principal.name, method, path: ADMIN_API_BASE + path, target: params['id'] ?? params['keyid'] }, 'admin API change');
    });
  };

  add('GET', '/consumers', 'read_only', async (req, res) => {
    const q = queryOf(req.url);
    const consumers = await store.listConsumers({ ...limitOf(q), ...(q.get('after') ? { after: q.get('after')! } : {}), ...(q.get('tenant') ? { tenant: q.get('tenant')! } : {}) });
    sendJson(res, 200, pageOf(consumers, pageSize(q), (c) => c.id, consumerView));
  });
  add('POST', '/consumers', 'admin', async (_req, res, _p, actor, body) => {
    const consumer = await actions.createConsumer(actor, {
      ...(body['id'] !== undefined ? { id: str(body, 'id') } : {}),
      name: str(body, 'name'),
      tenant: optStr(body, 'tenant'),
      roles: strList(body, 'roles'),
      groups: strList(body, 'groups'),
      plan: optStr(body, 'plan'),
      metadata: obj(body, 'metadata'),
    });
    sendJson(res, 201, consumerView(consumer));
  });
  add('GET', '/consumers/:id', 'read_only', async (_req, res, params) => {
    const consumer = await store.getConsumer(params['id']!);
    if (!consumer) throw new GatewayError('not_found');
    sendJson(res, 200, consumerView(consumer));
  });
  add('PATCH', '/consumers/:id', 'admin', async (_req, res, params, actor, body) => {
    const patch = {
      ...(body['name'] !== undefined ? { name: str(body, 'name') } : {}),
      ...(body['tenant'] !== undefined ? { tenant: optStr(body, 'tenant') } : {}),
      ...(body['roles'] !== undefined ? { roles: strList(body, 'roles') } : {}),
      ...(body['groups'] !== undefined ? { groups: strList(body, 'groups') } : {}),
      ...(body['plan'] !== undefined ? { plan: optStr(body, 'plan') } : {}),
      ...(body['metadata'] !== undefined ? { metadata: obj(body, 'metadata') } : {}),
    };
    sendJson(res, 200, consumerView(await actions.updateConsumer(actor, params['id']!, patch)));
  });
  add('DELETE', '/consumers/:id', 'admin', async (_req, res, params, actor) => {
    await actions.deleteConsumer(actor, params['id']!);
    sendJson(res, 200, { deleted: params['id'] });
  });

  add('GET', '/keys', 'read_only', async (req, res) => {
    const q = queryOf(req.url);
    const keys = await store.listApiKeys({ ...limitOf(q), ...(q.get('after') ? { after: q.get('after')! } : {}), ...(q.get('consumer') ? { consumerId: q.get('consumer')! } : {}) });
    sendJson(res, 200, pageOf(keys, pageSize(q), (k) => k.id, (k) => keyView(k)));
  });
  add('POST', '/keys', 'admin', async (_req, res, _p, actor, body) => {
    const { key, record } = await actions.createKey(actor, {
      consumerId: str(body, 'consumer'),
      scopes: strList(body, 'scopes'),
      expiresAt: optTime(body, 'expires_at'),
      plan: optStr(body, 'plan'),
      metadata: obj(body, 'metadata'),
    });
    sendJson(res, 201, { key, ...keyView(record) });
  });
  add('GET', '/keys/:id', 'read_only', async (_req, res, params) => {
    const key = await store.getApiKey(params['id']!);
    if (!key) throw new GatewayError('not_found');
    sendJson(res, 200, keyView(key));
  });
  add('PATCH', '/keys/:id', 'admin', async (_req, res, params, actor, body) => {
    for (const field of Object.keys(body)) if (!KEY_PATCH_FIELDS.has(field)) throw invalid(field, 'cannot be changed (a key keeps its consumer and secret: rotate for a new secret)');
    const patch = {
      ...(body['scopes'] !== undefined ? { scopes: strList(body, 'scopes') } : {}),
      ...(body['expires_at'] !== undefined ? { expiresAt: optTime(body, 'expires_at') } : {}),
      ...(body['plan'] !== undefined ? { plan: optStr(body, 'plan') } : {}),
      ...(body['metadata'] !== undefined ? { metadata: obj(body, 'metadata') } : {}),
    };
    sendJson(res, 200, keyView(await actions.updateKey(actor, params['id']!, patch)));
  });
  add('POST', '/keys/:id/rotate', 'admin', async (_req, res, params, actor, body) => {
    const graceSeconds = body['grace_seconds'];
    if (graceSeconds !== undefined && (typeof graceSeconds !== 'number' || !Number.isInteger(graceSeconds))) throw invalid('grace_seconds', 'must be an integer');
    const { key, record, old } = await actions.rotateKey(actor, params['id']!, {
      ...(graceSeconds !== undefined ? { graceMs: (graceSeconds as number) * 1000 } : {}),
      ...(body['expires_at'] !== undefined ? { expiresAt: optTime(body, 'expires_at') } : {}),
    });
    sendJson(res, 201, { key, ...keyView(record), previous: keyView(old) });
  });
  add('POST', '/keys/:id/revoke', 'admin', async (_req, res, params, actor) => {
    sendJson(res, 200, keyView(await actions.revokeKey(actor, params['id']!)));
  });
  add('POST', '/keys/:id/reinstate', 'admin', async (_req, res, params, actor) => {
    const key = await store.getApiKey(params['id']!);
    if (!key) throw new GatewayError('not_found');
    await actions.reinstateKey(actor, key.id);
    sendJson(res, 200, { ...keyView(key), reinstated: true });
  });
  add('DELETE', '/keys/:id', 'admin', async (_req, res, params, actor) => {
    sendJson(res, 200, keyView(await actions.revokeKey(actor, params['id']!)));
  });

  add('GET', '/consumers/:id/signature-keys', 'read_only', async (req, res, params) => {
    const q = queryOf(req.url);
    if (!(await store.getConsumer(params['id']!))) throw new GatewayError('not_found');
    const keys = await store.listSignatureKeys({ ...limitOf(q), ...(q.get('after') ? { after: q.get('after')! } : {}), consumerId: params['id']! });
    sendJson(res, 200, pageOf(keys, pageSize(q), (k) => k.keyid, signatureKeyView));
  });
  add('POST', '/consumers/:id/signature-keys', 'admin', async (_req, res, params, actor, body) => {
    // Only these fields: in particular no `secret` — an HMAC secret is always generated here, never chosen by a client.
    for (const field of Object.keys(body)) if (!SIGNATURE_KEY_FIELDS.has(field)) throw invalid(field, field === 'secret' ? 'is not accepted: the gateway generates HMAC secrets' : 'is not a signature key field');
    const algorithm = str(body, 'algorithm');
    if (!SIGNATURE_ALGORITHMS.has(algorithm)) throw invalid('algorithm', `must be one of ${[...SIGNATURE_ALGORITHMS].join(', ')}`);
    const publicKey = optStr(body, 'public_key');
    const { record, secret } = await actions.createSignatureKey(actor, { consumerId: params['id']!, keyid: str(body, 'keyid'), algorithm: algorithm as never, publicKey });
    sendJson(res, 201, { ...signatureKeyView(record), ...(secret !== null ? { secret } : {}) });
  });
  add('GET', '/signature-keys/:keyid', 'read_only', async (_req, res, params) => {
    const key = await store.getSignatureKey(params['keyid']!);
    if (!key) throw new GatewayError('not_found');
    sendJson(res, 200, signatureKeyView(key));
  });
  add('POST', '/signature-keys/:keyid/revoke', 'admin', async (_req, res, params, actor) => {
    sendJson(res, 200, signatureKeyView(await actions.revokeSignatureKey(actor, params['keyid']!)));
  });

  add('GET', '/openapi.json', 'read_only', async (_req, res) => {
    sendJson(res, 200, ADMIN_OPENAPI);
  });
  add('GET', '/events', 'read_only', async (req, res) => {
    const q = queryOf(req.url);
    const after = cursorOf(q, /^[0-9]{1,15}$/);
    const events = await store.listAdminEvents({ ...limitOf(q), ...(after ? { beforeSeq: Number(after) } : {}) });
    const view = (e: (typeof events)[number]) => ({ seq: e.seq, id: e.id, at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, target_type: e.targetType, target_id: e.targetId, details: e.details });
    sendJson(res, 200, pageOf(events, pageSize(q), (e) => String(e.seq), view));
  });

  add('GET', '/audit/head', 'read_only', async (_req, res) => {
    const head = auditHead?.();
    if (!head) throw new GatewayError('not_found');
    sendJson(res, 200, head);
  });
}

const KEY_PATCH_FIELDS = new Set(['scopes', 'expires_at', 'plan', 'metadata']);
const SIGNATURE_KEY_FIELDS = new Set(['keyid', 'algorithm', 'public_key']);
const SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set(['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256']);

/** Store options for one page: one row more than asked, to learn whether another page follows. */
function limitOf(q: URLSearchParams): { limit: number } {
  return { limit: pageSize(q) + 1 };
}

function invalid(pointer: string, message: string): GatewayError {
  return new GatewayError('validation_failed', `admin API: ${pointer} ${message}`, { errors: [{ pointer: `body/${pointer}`, message }] });
}

function str(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  return value;
}

function optStr(body: Body, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(field, 'must be a string or null');
  return value;
}

function strList(body: Body, field: string): string[] {
  const value = body[field];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(field, 'must be a list of strings');
  return value as string[];
}

function obj(body: Body, field: string): Record<string, unknown> {
  const value = body[field];
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

function optTime(body: Body, field: string): number | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' && isDateTime(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalid(field, 'must be an RFC 3339 date-time or null');
  return ms;
}

function mapStoreError(error: unknown): unknown {
  if (!(error instanceof StoreError)) return error;
  if (error.code === 'not_found') return new GatewayError('not_found', error.message, { cause: error });
  if (error.code === 'conflict') return new GatewayError('conflict', error.message, { cause: error });
  return new GatewayError('validation_failed', error.message, { cause: error, errors: [{ pointer: error.field ? `body/${error.field}` : 'body', message: error.message.replace(/ must match .*/, ' has an invalid format') }] });
}

/** Reads a JSON object body up to `limit` bytes (413 past it, 415 unless JSON, 400 when malformed). */
export async function readJson(req: IncomingMessage, limit: number): Promise<Body> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new GatewayError('payload_too_large', 'admin API body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  if (type !== 'application/json') throw new GatewayError('unsupported_media_type', 'admin API expects application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new GatewayError('bad_request', 'admin API: malformed JSON', { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new GatewayError('bad_request', 'admin API: body must be a JSON object');
  for (const key of Object.keys(parsed)) if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw new GatewayError('bad_request', 'admin API: forbidden key');
  return parsed as Body;
}
