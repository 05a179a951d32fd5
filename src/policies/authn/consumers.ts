import type { Consumer, Store } from '../../store/types.ts';

/** How long an authenticator trusts a consumer it read from the store (roles, tenant), in ms. */
export const CONSUMER_TTL_MS = 10_000;

/**
 * A consumer lookup for authenticators that map a credential to a consumer id (mTLS, message signatures): the
 * store's consumer, cached for CONSUMER_TTL_MS (undefined without a store, and cached as such when absent).
 * Callers only ask for ids from their own configuration or store records, so the cache is as bounded as those.
 */
export function cachedConsumerLookup(store: Store | undefined): (id: string) => Promise<Consumer | undefined> {
  const cache = new Map<string, { consumer: Consumer | undefined; until: number }>();
  return async (id) => {
    if (!store) return undefined;
    const hit = cache.get(id);
    if (hit && hit.until > Date.now()) return hit.consumer;
    const consumer = await store.getConsumer(id);
    cache.set(id, { consumer, until: Date.now() + CONSUMER_TTL_MS });
    return consumer;
  };
}
