import { randomBytes } from 'node:crypto';
import { readOrCreateSecretFile } from '../../config/generated-secret.ts';
import { dirname, join, resolve } from 'node:path';
import type { RampartConfig } from '../../config/types.ts';
import type { Logger } from '../../log.ts';
import { LocalBus, RedisBus, type InvalidationBus } from '../../bus/invalidation.ts';
import { KeyHasher } from '../../policies/authn-apikey/hash.ts';
import { ApiKeyVerifier } from '../../policies/authn-apikey/verifier.ts';
import { StoreSignatureKeys } from '../../policies/authn-signature/store-keys.ts';
import { PostgresStore } from '../../store/postgres/index.ts';
import { SqliteStore } from '../../store/sqlite/index.ts';
import type { Store } from '../../store/types.ts';
import type { SecurityEvents } from '../../bus/events.ts';
import { AdminActions } from './actions.ts';
import { AdminAuth } from './auth.ts';
import type { Keyring } from '../../store/encryption/keyring.ts';

/** The store, the key verifier and the admin actions of one process, with what it takes to stop them. */
export interface ControlPlane {
  readonly store: Store;
  readonly verifier: ApiKeyVerifier;
  /** The store's RFC 9421 keys, cached and invalidated over the bus (`apis[].auth.signatures.store_keys`). */
  readonly signatureKeys: StoreSignatureKeys;
  readonly actions: AdminActions;
  readonly bus: InvalidationBus;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** The key-encryption keys of the store's data keys (`keyringFromConfig(config.store, configFile)`). */
  readonly keyring: Keyring;
  /** Clock in epoch ms (tests). */
  readonly now?: () => number;
  /** Do not start the verifier (CLI: it only writes). */
  readonly withoutVerifier?: boolean;
  /** The audit trail: every admin event is appended as `admin.<action>`. */
  readonly audit?: { append(event: { type: string; fields: Readonly<Record<string, unknown>> }): boolean };
  /** The security event bus: admin events are emitted as `admin.action` (and `key.*` for key lifecycle). */
  readonly events?: SecurityEvents;
}

/** Opens the configured store (migrating it), relative paths taken from the config file's directory. */
export async function openStore(config: RampartConfig, configFile: string, logger: Logger, keyring: Keyring): Promise<Store> {
  const store = config.store;
  const onSinkError = (error: unknown) => logger.error({ err: { message: (error as Error)?.message } }, 'admin event sink failed');
  if (store.kind === 'postgres') {
    return PostgresStore.open({ url: store.url!, schema: store.schema, maxConnections: store.max_connections, onSinkError, keyring });
  }
  return new SqliteStore({ path: resolve(dirname(configFile), store.path), onSinkError, keyring });
}

/**
 * The pepper for key hashes: `auth_keys.pepper` when set; otherwise (SQLite only) a random 32-byte pepper kept in
 * `key-pepper` next to the database, created 0600 on first use. Never a literal in the config.
 * @throws Error when the store is PostgreSQL and no pepper is configured (every instance must share one).
 */
export function resolvePepper(config: RampartConfig, configFile: string, logger: Logger): string {
  if (config.auth_keys.pepper !== undefined) return config.auth_keys.pepper;
  if (config.store.kind === 'postgres') throw new Error('auth_keys.pepper: is required with store.kind postgres (every instance must share it); set pepper: ${env:RAMPART_KEY_PEPPER}');
  const file = join(dirname(resolve(dirname(configFile), config.store.path)), 'key-pepper');
  const { value, created } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64url'));
  if (created) logger.warn({ file }, 'generated an API key pepper file; keep it with the database backups but apart from them, or set auth_keys.pepper');
  return value.trim();
}

/** The cross-instance invalidation bus: Redis pub/sub when `counters.kind` is redis, else in-process only. */
async function openBus(config: RampartConfig, logger: Logger): Promise<InvalidationBus> {
  const counters = config.counters as { kind?: string; url?: string; prefix?: string } | undefined;
  if (counters?.kind !== 'redis' || !counters.url) return new LocalBus();
  const bus = new RedisBus({ url: counters.url, prefix: `${counters.prefix ?? 'rampart:'}`.replace(/:$/, ''), logger });
  const ready = await Promise.race([bus.ready().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())]).catch(() => false);
  if (!ready) logger.warn('API key invalidation bus: Redis not reachable yet; revocations rely on the store re-check until it is');
  return bus;
}

/**
 * Opens the store, the key hasher and verifier (cache, batched last-use, re-check, Redis fan-out) and the admin
 * actions. `close` flushes pending last-use times and closes everything.
 */
export async function openControlPlane(config: RampartConfig, configFile: string, logger: Logger, options: ControlPlaneOptions): Promise<ControlPlane> {
  new AdminAuth(config.admin.tokens); // validates admin tokens before anything is opened
  const hasher = new KeyHasher(resolvePepper(config, configFile, logger));
  const store = await openStore(config, configFile, logger, options.keyring);
  const { audit, events } = options;
  if (audit) store.addAuditSink((e) => void audit.append({ type: `admin.${e.action}`, fields: { actor: e.actor, target_type: e.targetType, target_id: e.targetId, ...e.details } }));
  if (events) {
    const keyTypes: Record<string, 'key.created' | 'key.rotated' | 'key.revoked' | 'key.suspended' | 'key.reinstated'> = {
      'key.create': 'key.created',
      'key.rotate': 'key.rotated',
      'key.revoke': 'key.revoked',
      'key.suspend': 'key.suspended',
      'key.reinstate': 'key.reinstated',
    };
    store.addAuditSink((e) => {
      events.emit({ type: 'admin.action', at: e.at, actor: e.actor, fields: { action: e.action, target_type: e.targetType, target_id: e.targetId } });
      const keyType = keyTypes[e.action];
      if (keyType) events.emit({ type: keyType, at: e.at, actor: e.actor, ...(e.targetId ? { keyId: e.targetId } : {}) });
    });
  }
  const bus = await openBus(config, logger);
  const keys = config.auth_keys;
  const verifier = new ApiKeyVerifier(store, hasher, logger, bus, {
    cacheTtlMs: keys.cache_ttl_ms,
    negativeTtlMs: keys.negative_cache_ttl_ms,
    maxEntries: keys.max_cache_entries,
    recheckIntervalMs: keys.recheck_interval_ms,
    flushIntervalMs: keys.last_used_flush_ms,
    ...(options.now ? { now: options.now } : {}),
    ...(options.withoutVerifier ? { background: false } : {}),
  });
  const signatureKeys = new StoreSignatureKeys(store, bus, options.now ? { now: options.now } : {});
  const actions = new AdminActions(store, hasher, bus, { defaultGraceMs: keys.rotation_grace_ms, ...(options.now ? { now: options.now } : {}) });
  let closing: Promise<void> | undefined;
  return {
    store,
    verifier,
    signatureKeys,
    actions,
    bus,
    close: () =>
      (closing ??= (async () => {
        await verifier.close();
        await bus.close();
        await store.close();
      })()),
  };
}
