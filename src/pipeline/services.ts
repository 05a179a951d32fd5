import type { Logger } from '../log.ts';

/**
 * Shared services that compiled policies may use (stores, counters, key caches). Built once per gateway process
 * and reused across reloads; policies receive them at compile time, never look them up per request.
 */
export interface Services {
  readonly logger: Logger;
}
