import type { RouteWebSocket } from '../../pipeline/types.ts';
import type { WebSocketConfig } from './schema.ts';

/** The route's settings when upgrades are on for it, else undefined. Only GET routes can upgrade (RFC 6455 §4.1). */
export function routeWebSocket(method: string, api: WebSocketConfig | undefined, operation: WebSocketConfig | undefined, specEnabled: boolean): RouteWebSocket | undefined {
  if (method !== 'GET') return undefined;
  const enabled = operation?.enabled ?? (specEnabled || api?.enabled === true);
  if (!enabled) return undefined;
  const pick = <K extends keyof WebSocketConfig>(key: K): WebSocketConfig[K] => operation?.[key] ?? api?.[key];
  return Object.freeze({
    allowOrigins: new Set((pick('allow_origins') ?? []).map((o) => o.toLowerCase())),
    maxMessageBytes: pick('max_message_bytes') ?? 1048576,
    idleTimeoutMs: pick('idle_timeout_ms') ?? 60000,
    messagesPerSecond: pick('messages_per_second') ?? 50,
    burst: pick('burst') ?? 100,
    recheckMs: pick('recheck_ms') ?? 1000,
    maxConnections: pick('max_connections') ?? 10000,
  });
}
