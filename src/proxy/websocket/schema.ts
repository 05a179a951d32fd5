/**
 * `apis[].websocket` and `apis[].operations.<id>.websocket`: WebSocket upgrades on GET operations. The upgrade
 * request passes every request stage; then messages are relayed with these bounds.
 */
export const websocketSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'WebSocket upgrades (HTTP/1.1 `Upgrade: websocket`) on the GET operations of this API (or of this operation; `x-rampart-websocket: true` in the spec also enables one). The upgrade request passes every request stage first. See docs/websocket.md.',
  properties: {
    enabled: { type: 'boolean', description: 'Accept upgrades. API level: every GET operation; operation level: this one (false turns it off).' },
    allow_origins: {
      type: 'array',
      maxItems: 256,
      uniqueItems: true,
      items: { type: 'string', pattern: '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$' },
      description:
        'Origins a browser may open the socket from. An upgrade with any other `Origin` is refused 403 (cross-site WebSocket hijacking); one without `Origin` (not a browser) passes.',
    },
    // No schema defaults here: an operation's block must not overwrite the API's values with defaults.
    max_message_bytes: { type: 'integer', minimum: 1, maximum: 64 * 1024 * 1024, description: 'Largest message in either direction (default 1 MiB); a larger one closes the connection (1009).' },
    idle_timeout_ms: { type: 'integer', minimum: 1, maximum: 86_400_000, description: 'A connection with no message either way for this long is closed, in ms (default 60000).' },
    messages_per_second: { type: 'integer', minimum: 1, maximum: 100000, description: 'Messages a client may send per second on one connection, on average (default 50); past the burst the connection is closed (1008).' },
    burst: { type: 'integer', minimum: 1, maximum: 100000, description: 'Messages a client may send at once (default 100).' },
    recheck_ms: { type: 'integer', minimum: 100, maximum: 60000, description: 'How often an open connection\'s credential is checked again, in ms (default 1000): an expired, revoked or suspended one closes the connection (1008).' },
    max_connections: { type: 'integer', minimum: 1, maximum: 1000000, description: 'Open connections of this API in one gateway process (default 10000); past it an upgrade answers 503.' },
  },
} as const;

export interface WebSocketConfig {
  readonly enabled?: boolean;
  readonly allow_origins?: readonly string[];
  readonly max_message_bytes?: number;
  readonly idle_timeout_ms?: number;
  readonly messages_per_second?: number;
  readonly burst?: number;
  readonly recheck_ms?: number;
  readonly max_connections?: number;
}
