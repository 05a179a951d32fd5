/**
 * The control-plane store: consumers, API keys (hashed only) and admin events. Two implementations share this
 * interface and one contract test suite (`contract.case.ts`): SQLite (`node:sqlite`, embedded default) and PostgreSQL.
 * Timestamps are Unix epoch milliseconds. Consumer names and metadata, key metadata and admin event details are
 * stored encrypted (docs/encryption-at-rest.md); this interface always deals in plaintext.
 */
import type { RotationReport } from './encryption/data-keys.ts';

/** An API caller: a service, an application, a partner. Keys belong to a consumer. */
export interface Consumer {
  readonly id: string;
  readonly name: string;
  readonly tenant: string | null;
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  /** Rate-limit plan name, if any. */
  readonly plan: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface NewConsumer {
  /** Default: generated (`c_` + 16 hex). */
  readonly id?: string;
  readonly name: string;
  readonly tenant?: string | null;
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
  readonly plan?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

export type ConsumerPatch = Partial<Omit<NewConsumer, 'id'>>;

/** An API key as stored: never the key or its secret, only an HMAC of it. */
export interface ApiKeyRecord {
  /** Public identifier (part of the key; safe to log). */
  readonly id: string;
  /** Readable prefix, e.g. `rk_live`. */
  readonly prefix: string;
  readonly consumerId: string;
  /** Hex HMAC-SHA-256 of the full key under the server pepper. Useless without the pepper. */
  readonly keyHash: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number | null;
  readonly plan: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
  /** Id of the successor key after a rotation. */
  readonly replacedBy: string | null;
  /** After a rotation: the old key stops working at this time. */
  readonly graceUntil: number | null;
}

export type NewApiKey = Omit<ApiKeyRecord, 'updatedAt' | 'lastUsedAt' | 'revokedAt' | 'replacedBy' | 'graceUntil'>;

/** What may change on a live key. Its id, secret and consumer never do (rotate for a new secret). */
export type KeyPatch = Partial<Pick<ApiKeyRecord, 'scopes' | 'plan' | 'metadata' | 'expiresAt'>>;

/** RFC 9421 algorithms a store-backed signature key may be pinned to (as in `apis[].auth.signatures.keys`). */
export type SignatureKeyAlgorithm = 'ed25519' | 'ecdsa-p256-sha256' | 'rsa-pss-sha512' | 'hmac-sha256';

/**
 * A partner's HTTP Message Signatures key (RFC 9421) as stored: pinned to one consumer and one algorithm. An
 * asymmetric key has its public key (PEM or JWK text) and no secret; an HMAC key has its shared secret (base64url,
 * encrypted at rest) and no public key.
 */
export interface SignatureKeyRecord {
  /** The `keyid` partners send (same pattern as config keyids). */
  readonly keyid: string;
  readonly consumerId: string;
  readonly algorithm: SignatureKeyAlgorithm;
  readonly publicKey: string | null;
  /** HMAC only. Never logged, listed or returned by the admin API after creation. */
  readonly secret: string | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export type NewSignatureKey = Omit<SignatureKeyRecord, 'createdAt' | 'revokedAt'>;

/** One control-plane action (who did what to which object). Never carries secrets. */
export interface AdminEvent {
  readonly seq: number;
  readonly id: string;
  readonly at: number;
  /** Admin token name, `cli:<user>`, or `system`. */
  readonly actor: string;
  /** e.g. `consumer.create`, `key.revoke`. */
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

export type NewAdminEvent = Omit<AdminEvent, 'seq' | 'id' | 'at'> & { readonly at?: number };

/**
 * Receives every admin event after it is stored (the audit trail hooks in here to make them tamper-evident).
 * Must not throw; errors are the sink's to handle.
 */
export type AuditSink = (event: AdminEvent) => void | Promise<void>;

/** What changed since a point in time: ids to drop from caches. */
export interface StoreChanges {
  readonly keyIds: readonly string[];
  readonly consumerIds: readonly string[];
}

export interface ListOptions {
  /** Default 100, max 1000. */
  readonly limit?: number;
  /** Return entries whose id sorts after this one (keyset pagination). */
  readonly after?: string;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';

  createConsumer(input: NewConsumer, now?: number): Promise<Consumer>;
  getConsumer(id: string): Promise<Consumer | undefined>;
  listConsumers(options?: ListOptions & { readonly tenant?: string }): Promise<Consumer[]>;
  /** Returns undefined when the consumer does not exist. */
  updateConsumer(id: string, patch: ConsumerPatch, now?: number): Promise<Consumer | undefined>;
  /** Deletes the consumer and revokes its API keys and signature keys (kept as revoked records). Returns false when it did not exist. */
  deleteConsumer(id: string, now?: number): Promise<boolean>;

  insertApiKey(key: NewApiKey, now?: number): Promise<ApiKeyRecord>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(options?: ListOptions & { readonly consumerId?: string }): Promise<ApiKeyRecord[]>;
  /** Changes a live key's scopes, plan, metadata or expiry. Undefined if unknown; StoreError `conflict` if it is revoked. */
  updateApiKey(id: string, patch: KeyPatch, now?: number): Promise<ApiKeyRecord | undefined>;
  /** Sets `revokedAt` (once; a second revoke keeps the first time). Returns the record, undefined if unknown. */
  revokeApiKey(id: string, now?: number): Promise<ApiKeyRecord | undefined>;
  /**
   * In one transaction: inserts `successor` and marks `oldId` replaced by it, valid until `graceUntil`.
   * Throws StoreError `not_found` if the old key does not exist, `conflict` if it is revoked or already rotated.
   */
  rotateApiKey(oldId: string, successor: NewApiKey, graceUntil: number, now?: number): Promise<{ old: ApiKeyRecord; successor: ApiKeyRecord }>;
  /** Batch update of last-used times (never lowers a time). */
  touchApiKeys(entries: ReadonlyMap<string, number>): Promise<void>;

  /**
   * Stores a signature key. StoreError `invalid` (bad keyid, algorithm, or key material for the algorithm's shape:
   * a public key xor a secret), `not_found` (no such consumer), `conflict` (the keyid exists, revoked or not:
   * keyids are never reused).
   */
  createSignatureKey(key: NewSignatureKey, now?: number): Promise<SignatureKeyRecord>;
  getSignatureKey(keyid: string): Promise<SignatureKeyRecord | undefined>;
  /** Ordered by keyid (keyset pagination with `after`), optionally one consumer's. */
  listSignatureKeys(options?: ListOptions & { readonly consumerId?: string }): Promise<SignatureKeyRecord[]>;
  /** Sets `revokedAt` (once; a second revoke keeps the first time). Returns the record, undefined if unknown. */
  revokeSignatureKey(keyid: string, now?: number): Promise<SignatureKeyRecord | undefined>;

  /** Ids of keys and consumers changed at or after `since` (ms) — the safety-net re-check of key caches. */
  changesSince(since: number): Promise<StoreChanges>;

  /** Stores an admin event and hands it to every audit sink. */
  recordAdminEvent(event: NewAdminEvent): Promise<AdminEvent>;
  /** Newest first. */
  listAdminEvents(options?: { readonly limit?: number; readonly beforeSeq?: number }): Promise<AdminEvent[]>;
  addAuditSink(sink: AuditSink): void;

  /**
   * Re-wraps every data key not under the keyring's active KEK (`rampart keys rotate-kek`): online (the data keys
   * themselves do not change, so running instances keep reading), idempotent, safe to run twice at once.
   * @throws KeyringError when a data key's KEK is not configured.
   */
  rotateKek(now?: number): Promise<RotationReport>;

  close(): Promise<void>;
}

export type StoreErrorCode = 'not_found' | 'conflict' | 'invalid';

/** A store operation failed for a reason the caller can act on (unknown id, duplicate, bad input). */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** The input field at fault, when one is (`public_key`): the admin API names it as `body/<field>`. */
  readonly field: string | undefined;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.field = options?.field;
  }
}
