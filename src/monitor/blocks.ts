/** One dynamic block on a client IP. */
export interface BlockEntry {
  readonly ip: string;
  /** Epoch ms when the block lapses. */
  readonly until: number;
  readonly incidentId?: string;
  readonly reason: string;
}

/**
 * The in-process set of dynamic IP blocks the ip-filter policy consults per request (a Map lookup). Incident
 * response fills it; the store keeps it across restarts and Redis pub/sub copies it to every instance.
 * Expired blocks are dropped lazily on lookup and on `list()`.
 */
export class IpBlocks {
  readonly #entries = new Map<string, BlockEntry>();
  readonly #now: () => number;

  /** @param now clock in epoch ms (default Date.now). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Whether `ip` is blocked now. */
  isBlocked(ip: string): BlockEntry | undefined {
    const entry = this.#entries.get(ip);
    if (entry === undefined) return undefined;
    if (entry.until <= this.#now()) {
      this.#entries.delete(ip);
      return undefined;
    }
    return entry;
  }

  /** Adds or replaces a block (local only). */
  set(entry: BlockEntry): void {
    if (entry.until > this.#now()) this.#entries.set(entry.ip, entry);
  }

  /** Removes a block (local only); returns whether one existed. */
  delete(ip: string): boolean {
    return this.#entries.delete(ip);
  }

  /** Active blocks. */
  list(): BlockEntry[] {
    const now = this.#now();
    for (const [ip, entry] of this.#entries) if (entry.until <= now) this.#entries.delete(ip);
    return [...this.#entries.values()];
  }

  get size(): number {
    return this.list().length;
  }
}
