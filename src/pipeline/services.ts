import type { Logger } from '../log.ts';
import type { AuditLog } from '../audit/log.ts';
import type { SecurityEvents } from '../monitor/events.ts';
import type { IpBlocks } from '../monitor/blocks.ts';
import type { Counters } from '../counters/index.ts';
import type { Store } from '../store/types.ts';
import type { ApiKeyVerifier } from '../policies/authn-apikey/verifier.ts';
import type { ControlPlane } from '../admin/api/control-plane.ts';
import type { UpstreamPools } from '../proxy/pools.ts';
import type { IdentityAsserter } from '../proxy/identity.ts';

/**
 * Shared services that compiled policies may use (stores, counters, key caches). Built once per gateway process
 * and reused across reloads; policies receive them at compile time, never look them up per request.
 */
export interface Services {
  readonly logger: Logger;
  /** Security event bus (auth failures, lockouts, rate limits, key lifecycle): emit here, never throw. */
  readonly events?: SecurityEvents;
  /** The audit trail: `append({ type, fields })` for admin actions and key lifecycle (queued, group-committed). */
  readonly audit?: AuditLog;
  /** Dynamic IP blocks placed by incident response (enforced by the ip-filter policy). */
  readonly blocks?: IpBlocks;
  /** Rate-limit and brute-force counters (memory or Redis, with a local fallback). */
  readonly counters?: Counters;
  /** Consumers, API keys (hashed) and admin events (SQLite or PostgreSQL). */
  readonly store?: Store;
  /** API key verification with its cache, batched last-use and cross-instance invalidation. */
  readonly apiKeys?: ApiKeyVerifier;
  /** The store, key verifier and admin actions together, closed on stop. */
  readonly controlPlane?: ControlPlane;
  /** The proxy's upstream keep-alive pools, for policies that call the route's upstream themselves (owner lookups). */
  readonly upstreams?: UpstreamPools;
  /** Signs the identity assertion sent upstream; owner lookups send it as the proxy does. */
  readonly identity?: IdentityAsserter;
}
