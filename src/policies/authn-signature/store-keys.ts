import type { Invalidation, InvalidationBus } from '../../bus/invalidation.ts';
import type { SignatureKeyDirectory, SignatureKeyVerdict } from '../../pipeline/types.ts';
import type { Consumer, SignatureKeyRecord, Store } from '../../store/types.ts';
import { verificationKey } from './keys.ts';

/** Tuning of the store-backed key cache; times in milliseconds. */
export interface StoreSignatureKeyOptions {
  /** How long a looked-up key (with its consumer) is used before the store is asked again. Default 5000. */
  readonly ttlMs?: number;
  /** How long a keyid the store does not have is remembered as unknown. Default 5000. */
  readonly negativeTtlMs?: number;
  /** Most keys cached (active, revoked or unusable); the oldest go first. Default 10000. */
  readonly maxEntries?: number;
  /** Most unknown keyids remembered; the oldest go first. Default 10000. */
  readonly maxNegativeEntries?: number;
  /**
   * Store lookups per second for keyids this process has not found before (a token bucket of this size, refilled
   * continuously). Past it such keyids are refused without a lookup (`lookup_budget`); keys already found are
   * refreshed outside the budget, so a flood of invented keyids cannot lock out known partners. Default 50.
   */
  readonly missesPerSecond?: number;
  /** Clock (ms); default Date.now. */
  readonly now?: () => number;
}

type Entry = { readonly verdict: SignatureKeyVerdict; readonly consumerId: string; until: number };

/**
 * The store's RFC 9421 keys for the signature authenticator (APIs with `auth.signatures.store_keys`): a keyid not in
 * the API's config is looked up here. Lookups are cached briefly (`ttlMs`), concurrent lookups of one keyid share
 * one store query, unknown keyids are remembered (`negativeTtlMs`, bounded) and lookups of never-seen keyids are
 * rate-limited (`missesPerSecond`), so anonymous clients inventing keyids cannot make a store query per request.
 * Revocations, creations and consumer changes arrive on the invalidation bus (every instance with Redis, this one
 * always) and drop the entry at once; without the bus, an entry lives at most `ttlMs`.
 */
export class StoreSignatureKeys implements SignatureKeyDirectory {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #maxEntries: number;
  readonly #maxNegative: number;
  readonly #rate: number;
  /** Keys found in the store (kept past their TTL, marked stale: a refresh of a known key is outside the budget). */
  readonly #found = new Map<string, Entry>();
  /** Keyids the store did not have, with the time until which they count as unknown. */
  readonly #unknown = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<SignatureKeyVerdict>>();
  #tokens: number;
  #refilledAt: number;
  /** Bumped by every invalidation: a lookup that started before one is used but not cached. */
  #epoch = 0;
  /** Store lookups made (tests assert a keyid flood does not hammer the store). */
  lookups = 0;

  constructor(store: Store, bus: InvalidationBus | undefined, options: StoreSignatureKeyOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#ttl = options.ttlMs ?? 5000;
    this.#negativeTtl = options.negativeTtlMs ?? 5000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxNegative = options.maxNegativeEntries ?? 10_000;
    this.#rate = options.missesPerSecond ?? 50;
    this.#tokens = this.#rate;
    this.#refilledAt = this.#now();
    bus?.subscribe((message) => this.invalidate(message));
  }

  /**
   * The usable key of `keyid` with its consumer, or why there is none. Rejects (throws) only when the store fails:
   * the caller fails closed.
   */
  async find(keyid: string): Promise<SignatureKeyVerdict> {
    const now = this.#now();
    const found = this.#found.get(keyid);
    if (found && found.until > now) return found.verdict;
    if (!found) {
      const unknownUntil = this.#unknown.get(keyid);
      if (unknownUntil !== undefined && unknownUntil > now) return { ok: false, reason: 'unknown' };
    }
    let pending = this.#inflight.get(keyid);
    if (pending) return pending;
    if (!found && !this.#take(now)) return { ok: false, reason: 'lookup_budget' };
    pending = this.#load(keyid).finally(() => this.#inflight.delete(keyid));
    this.#inflight.set(keyid, pending);
    return pending;
  }

  /** One token of the miss budget, if any is left. */
  #take(now: number): boolean {
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  async #load(keyid: string): Promise<SignatureKeyVerdict> {
    const epoch = this.#epoch;
    this.lookups++;
    const record = await this.#store.getSignatureKey(keyid);
    const consumer = record && record.revokedAt === null ? await this.#store.getConsumer(record.consumerId) : undefined;
    const now = this.#now();
    if (!record) {
      if (epoch === this.#epoch) {
        this.#unknown.delete(keyid);
        this.#unknown.set(keyid, now + this.#negativeTtl);
        if (this.#unknown.size > this.#maxNegative) this.#unknown.delete(this.#unknown.keys().next().value!);
      }
      return { ok: false, reason: 'unknown' };
    }
    const verdict = verdictOf(record, consumer);
    if (epoch === this.#epoch) {
      this.#unknown.delete(keyid);
      this.#found.delete(keyid);
      this.#found.set(keyid, { verdict, consumerId: record.consumerId, until: now + this.#ttl });
      if (this.#found.size > this.#maxEntries) this.#found.delete(this.#found.keys().next().value!);
    }
    return verdict;
  }

  /** Drops what a bus message makes stale: one keyid (created or revoked), or every key of a consumer. */
  invalidate(message: Invalidation): void {
    if ('signatureKeyId' in message) {
      this.#epoch++;
      this.#unknown.delete(message.signatureKeyId);
      const entry = this.#found.get(message.signatureKeyId);
      if (entry) entry.until = 0;
      return;
    }
    if ('consumerId' in message) {
      this.#epoch++;
      for (const entry of this.#found.values()) if (entry.consumerId === message.consumerId) entry.until = 0;
    }
  }
}

/** The verdict for a stored record: revoked, consumer gone, unusable material (written around Rampart), or the key. */
function verdictOf(record: SignatureKeyRecord, consumer: Consumer | undefined): SignatureKeyVerdict {
  if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
  if (!consumer) return { ok: false, reason: 'no_consumer' };
  try {
    const key = verificationKey(
      record.keyid,
      { consumer: record.consumerId, algorithm: record.algorithm, scopes: [], ...(record.publicKey !== null ? { public_key: record.publicKey } : {}), ...(record.secret !== null ? { secret: record.secret } : {}) },
      'signature_keys',
    );
    return { ok: true, key, consumer };
  } catch {
    return { ok: false, reason: 'unusable' };
  }
}
