import type { Logger } from '../../log.ts';
import { errorForLog } from '../../log.ts';
import type { ApiKeyRecord, Consumer, Store } from '../../store/types.ts';
import type { ApiKeyRejectReason, ApiKeyVerdict } from '../../pipeline/types.ts';
import type { InvalidationBus, Invalidation } from '../../bus/invalidation.ts';
import type { KeyHasher } from './hash.ts';
import { parseApiKey } from './format.ts';

/** Tuning of the key cache and background work; every value in milliseconds except `maxEntries`. */
export interface VerifierOptions {
  /** How long a key record stays cached (revocations also drop it at once). Default 10000. */
  readonly cacheTtlMs?: number;
  /** How long an unknown key id stays cached as unknown. Default 1000. */
  readonly negativeTtlMs?: number;
  /** Largest number of cached records; the oldest go first. Default 10000. */
  readonly maxEntries?: number;
  /** Interval of the safety-net re-check of changed keys in the store. Default 1000. */
  readonly recheckIntervalMs?: number;
  /** Interval of the batched last-used write. Default 10000. */
  readonly flushIntervalMs?: number;
  /** Clock (ms); default Date.now. */
  readonly now?: () => number;
  /** Run the re-check and flush timers (default true; the CLI turns them off). */
  readonly background?: boolean;
}

export type RejectReason = ApiKeyRejectReason;

/** Upper bound on suspended key ids remembered by one process. */
const MAX_SUSPENDED = 100_000;

export type VerifyResult = ApiKeyVerdict;

interface Entry {
  readonly key: ApiKeyRecord | undefined;
  readonly consumer: Consumer | undefined;
  readonly digest: Buffer | undefined;
  readonly until: number;
}

/**
 * Verifies presented API keys: checksum first (no store lookup for typos or random strings), then the record by id
 * (cached, concurrent lookups coalesced), a constant-time HMAC comparison, and the key's state (revoked, expired,
 * past its rotation grace). Records last use in memory and writes it in batches on a timer. Cache entries are
 * dropped on invalidation messages (in-process and Redis) and by a periodic re-check of what changed in the store.
 */
export class ApiKeyVerifier {
  readonly #store: Store;
  readonly #hasher: KeyHasher;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #maxEntries: number;
  readonly #recheckMs: number;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  readonly #lastUsed = new Map<string, number>();
  /** Keys suspended by incident response (fanned out on the invalidation bus), refused until reinstated. */
  readonly #suspended = new Set<string>();
  readonly #timers: NodeJS.Timeout[] = [];
  /** Bumped by every invalidation: a lookup that started before one is used but not cached. */
  #epoch = 0;
  #lastRecheck: number;
  #rechecking = false;
  /** Store lookups made (tests assert that a bad checksum makes none). */
  lookups = 0;

  constructor(store: Store, hasher: KeyHasher, logger: Logger, bus: InvalidationBus | undefined, options: VerifierOptions = {}) {
    this.#store = store;
    this.#hasher = hasher;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    this.#ttl = options.cacheTtlMs ?? 10_000;
    this.#negativeTtl = options.negativeTtlMs ?? 1000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#recheckMs = options.recheckIntervalMs ?? 1000;
    this.#lastRecheck = this.#now();
    bus?.subscribe((message) => this.invalidate(message));
    if (options.background === false) return;
    const recheck = setInterval(() => void this.recheck(), this.#recheckMs);
    const flush = setInterval(() => void this.flush(), options.flushIntervalMs ?? 10_000);
    recheck.unref();
    flush.unref();
    this.#timers.push(recheck, flush);
  }

  /** Checks a presented key. Never throws for a bad key; rejects (throws) only when the store fails. */
  async verify(presented: string): Promise<VerifyResult> {
    const parsed = parseApiKey(presented);
    if (!parsed) return { ok: false, reason: 'malformed' };
    const entry = await this.#entry(parsed.id);
    const keyId = parsed.id;
    if (!entry.key || !entry.digest) return { ok: false, reason: 'unknown', keyId };
    if (!this.#hasher.matches(presented, entry.digest)) return { ok: false, reason: 'mismatch', keyId };
    const now = this.#now();
    const key = entry.key;
    if (key.revokedAt !== null) return { ok: false, reason: 'revoked', keyId };
    if (this.#suspended.has(key.id)) return { ok: false, reason: 'suspended', keyId };
    if (key.expiresAt !== null && now >= key.expiresAt) return { ok: false, reason: 'expired', keyId };
    if (key.graceUntil !== null && now >= key.graceUntil) return { ok: false, reason: 'rotated', keyId };
    if (!entry.consumer) return { ok: false, reason: 'no_consumer', keyId };
    this.#lastUsed.set(key.id, now);
    return { ok: true, key, consumer: entry.consumer };
  }

  async #entry(id: string): Promise<Entry> {
    const cached = this.#cache.get(id);
    if (cached && cached.until > this.#now()) return cached;
    let pending = this.#inflight.get(id);
    if (!pending) {
      pending = this.#load(id).finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, pending);
    }
    return pending;
  }

  async #load(id: string): Promise<Entry> {
    const epoch = this.#epoch;
    this.lookups++;
    const key = await this.#store.getApiKey(id);
    const consumer = key ? await this.#store.getConsumer(key.consumerId) : undefined;
    const now = this.#now();
    const entry: Entry = {
      key,
      consumer,
      digest: key && /^[0-9a-f]{64}$/.test(key.keyHash) ? Buffer.from(key.keyHash, 'hex') : undefined,
      until: now + (key ? this.#ttl : this.#negativeTtl),
    };
    if (epoch === this.#epoch) {
      this.#cache.delete(id);
      this.#cache.set(id, entry);
      if (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return entry;
  }

  /** Whether incident response suspended this key (on this instance's view of the bus). */
  isSuspended(keyId: string): boolean {
    return this.#suspended.has(keyId);
  }

  /** Drops a key, or every key of a consumer, from the cache (effective for the next request); applies suspensions. */
  invalidate(message: Invalidation): void {
    if ('revokeSubject' in message || 'tightenConsumer' in message || 'signatureKeyId' in message) return;
    this.#epoch++;
    if ('keyId' in message) {
      this.#cache.delete(message.keyId);
      if (message.suspended === true) {
        this.#suspended.add(message.keyId);
        if (this.#suspended.size > MAX_SUSPENDED) this.#suspended.delete(this.#suspended.values().next().value!);
      } else if (message.suspended === false) this.#suspended.delete(message.keyId);
      return;
    }
    for (const [id, entry] of this.#cache) if (entry.key?.consumerId === message.consumerId) this.#cache.delete(id);
  }

  /**
   * The safety net: asks the store what changed since the last re-check (with an overlap that absorbs clock skew
   * between instances) and drops those entries. A failing store is logged; expired entries then fail closed.
   */
  async recheck(): Promise<void> {
    if (this.#rechecking) return;
    this.#rechecking = true;
    const startedAt = this.#now();
    try {
      const overlap = Math.max(5000, 2 * this.#recheckMs);
      const changes = await this.#store.changesSince(this.#lastRecheck - overlap);
      for (const keyId of changes.keyIds) this.invalidate({ keyId });
      for (const consumerId of changes.consumerIds) this.invalidate({ consumerId });
      this.#lastRecheck = startedAt;
    } catch (error) {
      this.#logger.warn({ err: errorForLog(error) }, 'API key re-check failed');
    } finally {
      this.#rechecking = false;
    }
  }

  /** Writes pending last-used times in one batch. */
  async flush(): Promise<void> {
    if (this.#lastUsed.size === 0) return;
    const batch = new Map(this.#lastUsed);
    this.#lastUsed.clear();
    try {
      await this.#store.touchApiKeys(batch);
    } catch (error) {
      for (const [id, at] of batch) if (!this.#lastUsed.has(id)) this.#lastUsed.set(id, at);
      this.#logger.warn({ err: errorForLog(error) }, 'API key last-used flush failed; will retry');
    }
  }

  /** Stops the timers and writes the last pending batch. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.flush();
  }
}
