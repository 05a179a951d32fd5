import type { InvalidationBus } from '../../bus/invalidation.ts';
import { generateApiKey, KEY_PREFIX } from '../../policies/authn-apikey/format.ts';
import type { KeyHasher } from '../../policies/authn-apikey/hash.ts';
import { randomBytes } from 'node:crypto';
import { publicKeyProblem } from '../../policies/authn-signature/keys.ts';
import { StoreError, type ApiKeyRecord, type Consumer, type ConsumerPatch, type KeyPatch, type NewApiKey, type NewConsumer, type SignatureKeyAlgorithm, type SignatureKeyRecord, type Store } from '../../store/types.ts';

/** An API key as the admin API and CLI show it: never the secret, never the hash. */
export interface ApiKeyView {
  readonly id: string;
  readonly prefix: string;
  readonly consumer: string;
  readonly scopes: readonly string[];
  readonly expires_at: string | null;
  readonly plan: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly created_at: string;
  readonly last_used_at: string | null;
  readonly revoked_at: string | null;
  readonly replaced_by: string | null;
  readonly grace_until: string | null;
  readonly status: 'active' | 'expired' | 'revoked' | 'rotating' | 'rotated';
}

const IMPORT_ID = /^[0-9A-Za-z]{12}$/;
const KEY_HASH = /^[0-9a-f]{64}$/;

export interface NewKeyInput {
  readonly consumerId: string;
  readonly scopes?: readonly string[];
  /** Epoch ms; null = no expiry. */
  readonly expiresAt?: number | null;
  readonly plan?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Public view of a key record (drops `keyHash`). */
export function keyView(key: ApiKeyRecord, now = Date.now()): ApiKeyView {
  const status =
    key.revokedAt !== null
      ? 'revoked'
      : key.graceUntil !== null
        ? now >= key.graceUntil
          ? 'rotated'
          : 'rotating'
        : key.expiresAt !== null && now >= key.expiresAt
          ? 'expired'
          : 'active';
  return {
    id: key.id,
    prefix: key.prefix,
    consumer: key.consumerId,
    scopes: key.scopes,
    expires_at: iso(key.expiresAt),
    plan: key.plan,
    metadata: key.metadata,
    created_at: new Date(key.createdAt).toISOString(),
    last_used_at: iso(key.lastUsedAt),
    revoked_at: iso(key.revokedAt),
    replaced_by: key.replacedBy,
    grace_until: iso(key.graceUntil),
    status,
  };
}

/** A signature key as the admin API shows it: never the HMAC secret (that is in the create response only). */
export interface SignatureKeyView {
  readonly keyid: string;
  readonly consumer: string;
  readonly algorithm: SignatureKeyAlgorithm;
  readonly public_key: string | null;
  readonly created_at: string;
  readonly revoked_at: string | null;
  readonly status: 'active' | 'revoked';
}

/** Public view of a signature key record (drops `secret`). */
export function signatureKeyView(key: SignatureKeyRecord): SignatureKeyView {
  return {
    keyid: key.keyid,
    consumer: key.consumerId,
    algorithm: key.algorithm,
    public_key: key.publicKey,
    created_at: new Date(key.createdAt).toISOString(),
    revoked_at: iso(key.revokedAt),
    status: key.revokedAt === null ? 'active' : 'revoked',
  };
}

export interface NewSignatureKeyInput {
  readonly consumerId: string;
  readonly keyid: string;
  readonly algorithm: SignatureKeyAlgorithm;
  /** Asymmetric algorithms: PEM or JWK text. Never for hmac-sha256 (the gateway generates the secret). */
  readonly publicKey?: string | null;
}

/** Bytes of a generated HMAC signature secret (RFC 9421 §3.3.3 leaves it to the application; 256 bits). */
const HMAC_SECRET_BYTES = 32;

/** Public view of a consumer. */
export function consumerView(c: Consumer): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    tenant: c.tenant,
    roles: c.roles,
    groups: c.groups,
    plan: c.plan,
    metadata: c.metadata,
    created_at: new Date(c.createdAt).toISOString(),
    updated_at: new Date(c.updatedAt).toISOString(),
  };
}

/**
 * Control-plane actions shared by the admin API and the CLI. Each one changes the store, records an admin event
 * (actor, action, target; never a secret) and, for keys and consumers, tells every gateway instance to drop its
 * cached copy (Redis fan-out when configured; the store re-check otherwise).
 */
export class AdminActions {
  readonly store: Store;
  readonly #hasher: KeyHasher;
  readonly #bus: InvalidationBus | undefined;
  readonly #defaultGraceMs: number;
  readonly #now: () => number;

  constructor(store: Store, hasher: KeyHasher, bus: InvalidationBus | undefined, options: { defaultGraceMs?: number; now?: () => number } = {}) {
    this.store = store;
    this.#hasher = hasher;
    this.#bus = bus;
    this.#defaultGraceMs = options.defaultGraceMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
  }

  async createConsumer(actor: string, input: NewConsumer): Promise<Consumer> {
    const consumer = await this.store.createConsumer(input, this.#now());
    await this.#event(actor, 'consumer.create', 'consumer', consumer.id, { name: consumer.name, tenant: consumer.tenant, roles: consumer.roles, plan: consumer.plan });
    return consumer;
  }

  async updateConsumer(actor: string, id: string, patch: ConsumerPatch): Promise<Consumer> {
    const consumer = await this.store.updateConsumer(id, patch, this.#now());
    if (!consumer) throw new StoreError('not_found', `consumer ${id} does not exist`);
    await this.#bus?.publish({ consumerId: id });
    await this.#event(actor, 'consumer.update', 'consumer', id, { fields: Object.keys(patch) });
    return consumer;
  }

  async deleteConsumer(actor: string, id: string): Promise<void> {
    if (!(await this.store.deleteConsumer(id, this.#now()))) throw new StoreError('not_found', `consumer ${id} does not exist`);
    await this.#bus?.publish({ consumerId: id });
    await this.#event(actor, 'consumer.delete', 'consumer', id, {});
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller's hands. */
  async createKey(actor: string, input: NewKeyInput): Promise<{ key: string; record: ApiKeyRecord }> {
    const now = this.#now();
    if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= now) throw new StoreError('invalid', 'expires_at must be in the future');
    const { id, key } = generateApiKey();
    const record = await this.store.insertApiKey(this.#newKey(id, this.#hasher.hash(key), input, now), now);
    await this.#event(actor, 'key.create', 'api_key', id, { consumer: input.consumerId, scopes: record.scopes, expires_at: record.expiresAt });
    return { key, record };
  }

  /** Changes a live key's scopes, plan, metadata or expiry; every instance drops its cached copy. */
  async updateKey(actor: string, id: string, patch: KeyPatch): Promise<ApiKeyRecord> {
    const now = this.#now();
    if (patch.expiresAt !== undefined && patch.expiresAt !== null && patch.expiresAt <= now) throw new StoreError('invalid', 'expires_at must be in the future');
    const record = await this.store.updateApiKey(id, patch, now);
    if (!record) throw new StoreError('not_found', `key ${id} does not exist`);
    await this.#bus?.publish({ keyId: id });
    await this.#event(actor, 'key.update', 'api_key', id, { consumer: record.consumerId, fields: Object.keys(patch) });
    return record;
  }

  /**
   * Imports a key by its hash (a migration between stores that share the pepper): the secret never passes through
   * here. The hash must be an HMAC-SHA-256 under this store's pepper, or the key will simply not verify.
   */
  async importKey(actor: string, input: NewKeyInput & { readonly id: string; readonly keyHash: string }): Promise<ApiKeyRecord> {
    if (!IMPORT_ID.test(input.id)) throw new StoreError('invalid', 'a key id is 12 base62 characters (the part after rk_live_)');
    if (!KEY_HASH.test(input.keyHash)) throw new StoreError('invalid', 'key_hash must be 64 lower-case hex digits (HMAC-SHA-256)');
    const now = this.#now();
    const record = await this.store.insertApiKey(this.#newKey(input.id, input.keyHash, input, now), now);
    // Instances that were asked for this id before remember it as unknown for a moment: tell them it exists now.
    await this.#bus?.publish({ keyId: record.id });
    await this.#event(actor, 'key.import', 'api_key', record.id, { consumer: record.consumerId, scopes: record.scopes, expires_at: record.expiresAt });
    return record;
  }

  /**
   * Rotates a key: a successor with the same consumer, scopes, plan and metadata (expiry likewise unless given);
   * the old key keeps working until now + `graceMs` (default `auth_keys.rotation_grace_ms`).
   */
  async rotateKey(actor: string, id: string, options: { graceMs?: number; expiresAt?: number | null } = {}): Promise<{ key: string; record: ApiKeyRecord; old: ApiKeyRecord }> {
    const now = this.#now();
    const current = await this.store.getApiKey(id);
    if (!current) throw new StoreError('not_found', `key ${id} does not exist`);
    const graceMs = options.graceMs ?? this.#defaultGraceMs;
    if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > 30 * 86_400_000) throw new StoreError('invalid', 'grace must be between 0 and 30 days');
    const next = generateApiKey();
    const successor = this.#newKey(next.id, this.#hasher.hash(next.key), {
      consumerId: current.consumerId,
      scopes: current.scopes,
      expiresAt: options.expiresAt === undefined ? current.expiresAt : options.expiresAt,
      plan: current.plan,
      metadata: current.metadata,
    }, now);
    const { old, successor: record } = await this.store.rotateApiKey(id, successor, now + graceMs, now);
    await this.#bus?.publish({ keyId: id });
    await this.#event(actor, 'key.rotate', 'api_key', id, { successor: record.id, grace_until: old.graceUntil });
    return { key: next.key, record, old };
  }

  async revokeKey(actor: string, id: string): Promise<ApiKeyRecord> {
    const record = await this.store.revokeApiKey(id, this.#now());
    if (!record) throw new StoreError('not_found', `key ${id} does not exist`);
    await this.#bus?.publish({ keyId: id });
    await this.#event(actor, 'key.revoke', 'api_key', id, { consumer: record.consumerId });
    return record;
  }

  /**
   * Creates a store-backed RFC 9421 signature key for a consumer. An asymmetric key's public key is parsed and must
   * be of the algorithm's type (Ed25519; EC P-256; RSA ≥ 2048 bits), never private material; for `hmac-sha256` the
   * gateway generates the secret (32 random bytes, base64url), returned here once and never again. Every instance
   * drops a cached "unknown" for the keyid.
   * @throws StoreError `invalid` naming the field (`public_key`, `keyid`, `algorithm`), `not_found`, `conflict`.
   */
  async createSignatureKey(actor: string, input: NewSignatureKeyInput): Promise<{ record: SignatureKeyRecord; secret: string | null }> {
    const publicKey = input.publicKey ?? null;
    let secret: string | null = null;
    if (input.algorithm === 'hmac-sha256') {
      if (publicKey !== null) throw new StoreError('invalid', 'public_key is not used by hmac-sha256 keys (the gateway generates their secret)', { field: 'public_key' });
      secret = randomBytes(HMAC_SECRET_BYTES).toString('base64url');
    } else if (input.algorithm === 'ed25519' || input.algorithm === 'ecdsa-p256-sha256' || input.algorithm === 'rsa-pss-sha512') {
      if (publicKey === null) throw new StoreError('invalid', `public_key is required for ${input.algorithm}`, { field: 'public_key' });
      const problem = publicKeyProblem(input.algorithm, publicKey);
      if (problem) throw new StoreError('invalid', `public_key ${problem}`, { field: 'public_key' });
    }
    const record = await this.store.createSignatureKey({ keyid: input.keyid, consumerId: input.consumerId, algorithm: input.algorithm, publicKey, secret }, this.#now());
    await this.#bus?.publish({ signatureKeyId: record.keyid });
    await this.#event(actor, 'signature_key.create', 'signature_key', record.keyid, { consumer: record.consumerId, algorithm: record.algorithm });
    return { record, secret };
  }

  /** Revokes a signature key; every instance stops accepting it (at once over the bus, else within the cache TTL). */
  async revokeSignatureKey(actor: string, keyid: string): Promise<SignatureKeyRecord> {
    const record = await this.store.revokeSignatureKey(keyid, this.#now());
    if (!record) throw new StoreError('not_found', `signature key ${keyid} does not exist`);
    await this.#bus?.publish({ signatureKeyId: keyid });
    await this.#event(actor, 'signature_key.revoke', 'signature_key', keyid, { consumer: record.consumerId });
    return record;
  }

  /**
   * Suspends a key (incident containment): every instance refuses it (`suspended`) until reinstated. The key record
   * is unchanged, so reinstating restores it exactly; suspension reaches other instances over the bus.
   */
  async suspendKey(actor: string, id: string, reason: string): Promise<void> {
    const record = await this.store.getApiKey(id);
    if (!record) throw new StoreError('not_found', `key ${id} does not exist`);
    await this.#bus?.publish({ keyId: id, suspended: true });
    await this.#event(actor, 'key.suspend', 'api_key', id, { consumer: record.consumerId, reason: reason.slice(0, 200) });
  }

  /** Lifts a suspension everywhere. */
  async reinstateKey(actor: string, id: string): Promise<void> {
    await this.#bus?.publish({ keyId: id, suspended: false });
    await this.#event(actor, 'key.reinstate', 'api_key', id, {});
  }

  #newKey(id: string, keyHash: string, input: NewKeyInput, now: number): NewApiKey {
    return {
      id,
      prefix: KEY_PREFIX,
      consumerId: input.consumerId,
      keyHash,
      scopes: input.scopes ?? [],
      expiresAt: input.expiresAt ?? null,
      plan: input.plan ?? null,
      metadata: input.metadata ?? {},
      createdAt: now,
    };
  }

  /** Records an admin event for a change made elsewhere (incident containment of tokens and rate limits). */
  async record(actor: string, action: string, targetType: string, targetId: string, details: Record<string, unknown>): Promise<void> {
    await this.#event(actor, action, targetType, targetId, details);
  }

  async #event(actor: string, action: string, targetType: string, targetId: string, details: Record<string, unknown>): Promise<void> {
    await this.store.recordAdminEvent({ actor, action, targetType, targetId, details, at: this.#now() });
  }
}
