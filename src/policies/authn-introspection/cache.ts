/**
 * A bounded least-recently-used map with per-entry expiry. `get` drops an expired entry; `set` evicts the least
 * recently used entry past `maxEntries`. Times are in ms from the injected clock.
 */
export class ExpiringLru<V> {
  readonly #map = new Map<string, { value: V; expiresAt: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const entry = this.#map.get(key);
    if (!entry) return undefined;
    this.#map.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#map.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (ms); nothing is stored when that is not in the future. */
  set(key: string, value: V, expiresAt: number): void {
    this.#map.delete(key);
    if (expiresAt <= this.#now()) return;
    this.#map.set(key, { value, expiresAt });
    while (this.#map.size > this.#maxEntries) this.#map.delete(this.#map.keys().next().value!);
  }
}
