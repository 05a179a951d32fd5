import type { ApiKeyRecord } from '../../store/types.ts';
import { StoreError } from '../../store/types.ts';
import type { Identity, KeyIssuer, RequestContext, Services, UpstreamResponse } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { parsedBody } from '../validate/body.ts';
import type { ApiConfig } from '../../config/types.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import { TOKEN_METHODS } from '../authn/types.ts';
import { CREATE_ID, LIST_ID, REVOKE_ID } from './operations.ts';
import type { SelfServiceKeysConfig } from './schema.ts';

export { selfServiceOperations } from './operations.ts';

const DAY_MS = 86_400_000;
/** Marks consumers created by self-service, and whose tokens they belong to. */
const SELF_SERVICE = 'self_service';

type Endpoint = (ctx: RequestContext) => Promise<UpstreamResponse>;

/**
 * The endpoint Rampart answers for one self-service operation (in place of the upstream, after every request stage
 * ran). A caller authenticated with a token manages keys of its own consumer (id = the token's subject, created on
 * first use, marked as self-service; an admin-created consumer of the same id is never taken over): create (secret
 * shown once; scopes a subset of the token's; lifetime capped; at most `max_keys` live), list (never secrets),
 * revoke (own keys only; others are 404, also for the same subject from another issuer). Self-service consumers carry
 * the token's tenant and no roles (see ensureConsumer). Every change is an admin event with actor
 * `self:<subject> (<issuer>)`.
 */
export function selfServiceEndpoint(operationId: string, api: ApiConfig, config: SelfServiceKeysConfig, services: Services, maxBodyBytes: number): Endpoint {
  const issuer = services.keyIssuer;
  if (!issuer) throw new Error(`self_service_keys on API "${api.name}" needs the key store; it was not started`);
  const limits = bodyLimitsFor(api, maxBodyBytes);
  const locks = new Map<string, Promise<unknown>>();
  /** One change at a time per consumer on this instance, so parallel creates cannot pass the key cap together. */
  const serialised = <T>(id: string, run: () => Promise<T>): Promise<T> => {
    const previous = locks.get(id) ?? Promise.resolve();
    const next = previous.then(run, run);
    const settled = next.catch(() => undefined);
    locks.set(id, settled);
    void settled.then(() => {
      if (locks.get(id) === settled) locks.delete(id);
    });
    return next;
  };

  return async (ctx) => {
    const identity = callerOf(ctx);
    const owner = ownerOf(identity);
    const actor = `self:${identity.subject} (${owner})`;
    try {
      if (operationId === LIST_ID) {
        // Only the caller's own consumer: the same subject from another issuer is another person.
        if (!(await isOwnConsumer(issuer, identity.subject, owner))) return json(200, { keys: [] });
        const keys = await ownKeys(issuer, identity.subject);
        return json(200, { keys: keys.map((k) => view(k)) });
      }
      if (operationId === REVOKE_ID) {
        const id = ctx.params['id'] ?? '';
        return await serialised(identity.subject, async () => {
          const key = await issuer.store.getApiKey(id);
          const own = key !== undefined && key.consumerId === identity.subject && key.metadata[SELF_SERVICE] === true && (await isOwnConsumer(issuer, identity.subject, owner));
          if (!own) throw new GatewayError('not_found', 'no such self-service key of this caller');
          return json(200, view(await issuer.revokeKey(actor, id)));
        });
      }
      if (operationId !== CREATE_ID) throw new GatewayError('internal', `unknown self-service operation ${operationId}`);
      const body = await parsedBody(ctx, limits);
      const input = (body?.kind === 'json' ? body.value : {}) as { name?: string; scopes?: string[]; ttl_days?: number };
      const scopes = input.scopes ?? [...identity.scopes];
      const beyond = scopes.filter((s) => !identity.scopes.includes(s));
      if (beyond.length > 0) {
        throw new GatewayError('forbidden', 'self-service key scopes beyond the token', { errors: [{ pointer: 'body/scopes', message: 'must be a subset of the scopes of the token used' }] });
      }
      const ttlDays = Math.min(input.ttl_days ?? config.default_ttl_days, config.max_ttl_days);
      return await serialised(identity.subject, async () => {
        await ensureConsumer(issuer, identity, owner, actor);
        const live = (await ownKeys(issuer, identity.subject)).filter((k) => isLive(k));
        if (live.length >= config.max_keys) throw new GatewayError('conflict', `self-service key limit of ${config.max_keys} reached`);
        const { key, record } = await issuer.createKey(actor, {
          consumerId: identity.subject,
          scopes,
          expiresAt: Date.now() + ttlDays * DAY_MS,
          metadata: { [SELF_SERVICE]: true, ...(input.name ? { name: input.name } : {}) },
        });
        return json(201, { ...view(record), key });
      });
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      if (error instanceof StoreError) throw new GatewayError(error.code === 'conflict' ? 'conflict' : 'bad_request', `self-service key: ${error.message}`, { cause: error });
      throw new GatewayError('service_unavailable', 'key store unavailable', { cause: error });
    }
  };
}

function callerOf(ctx: RequestContext): Identity {
  const identity = ctx.identity;
  if (!identity) throw new GatewayError('unauthorized', 'self-service keys need an authenticated caller');
  if (!TOKEN_METHODS.has(identity.method)) throw new GatewayError('forbidden', `self-service keys cannot be managed with ${identity.method} credentials`);
  return identity;
}

/** Who vouched for the caller: the configured issuer of its token. */
function ownerOf(identity: Identity): string {
  return identity.issuer ?? identity.method;
}

async function isOwnConsumer(issuer: KeyIssuer, id: string, owner: string): Promise<boolean> {
  const consumer = await issuer.store.getConsumer(id);
  return consumer !== undefined && consumer.metadata[SELF_SERVICE] === true && consumer.metadata['issuer'] === owner;
}

/**
 * The caller's self-service consumer, created on first use with the token's tenant and **no roles**: roles live on
 * the consumer and would reach every key it holds, so a key made with a privileged token would lift the older ones,
 * and would keep roles the IdP has since withdrawn. Self-service keys carry scopes (a subset of the token's) only. A
 * consumer of that id not made by self-service for this issuer (an admin's, or another issuer's user with the same
 * subject) is refused (409), and so is a token whose tenant is not the consumer's.
 */
async function ensureConsumer(issuer: KeyIssuer, identity: Identity, owner: string, actor: string): Promise<void> {
  const existing = await issuer.store.getConsumer(identity.subject);
  const tenant = identity.tenant ?? null;
  if (!existing) {
    await issuer.createConsumer(actor, { id: identity.subject, name: `self-service: ${identity.subject}`.slice(0, 200), tenant, roles: [], metadata: { [SELF_SERVICE]: true, issuer: owner } });
    return;
  }
  if (existing.metadata[SELF_SERVICE] !== true || existing.metadata['issuer'] !== owner) {
    throw new GatewayError('conflict', 'a consumer with this id exists and was not created by self-service for this issuer');
  }
  if (existing.tenant !== tenant) throw new GatewayError('conflict', 'the token names another tenant than the self-service consumer');
}

async function ownKeys(issuer: KeyIssuer, consumerId: string): Promise<ApiKeyRecord[]> {
  const keys = await issuer.store.listApiKeys({ consumerId, limit: 500 });
  return keys.filter((k) => k.metadata[SELF_SERVICE] === true);
}

function isLive(key: ApiKeyRecord, now = Date.now()): boolean {
  return key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now) && (key.graceUntil === null || key.graceUntil > now);
}

function view(key: ApiKeyRecord): Record<string, unknown> {
  const now = Date.now();
  return {
    id: key.id,
    name: typeof key.metadata['name'] === 'string' ? key.metadata['name'] : null,
    scopes: key.scopes,
    expires_at: new Date(key.expiresAt ?? now).toISOString(),
    created_at: new Date(key.createdAt).toISOString(),
    last_used_at: key.lastUsedAt === null ? null : new Date(key.lastUsedAt).toISOString(),
    status: key.revokedAt !== null ? 'revoked' : isLive(key, now) ? 'active' : 'expired',
  };
}

function json(status: number, body: unknown): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: Buffer.from(JSON.stringify(body)), stream: undefined };
}
