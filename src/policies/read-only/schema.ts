/** `apis[].read_only`: declared in the policy registry (src/policies/index.ts), which adds it to the config schema. */
export const readOnlySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Read-only mode, for migrations and incidents: every request but GET, HEAD and OPTIONS is refused with 503 and `Retry-After` before authentication, so nothing reaches the upstream that could change it. WebSocket upgrades are GETs and stay open. Turn it on and off with a config reload.',
  properties: {
    enabled: { type: 'boolean', default: false, description: 'Refuse writes on this API.' },
    retry_after_seconds: { type: 'integer', minimum: 1, maximum: 86400, default: 300, description: 'The `Retry-After` a refused write carries, in seconds.' },
  },
} as const;

export interface ReadOnlyConfig {
  readonly enabled: boolean;
  readonly retry_after_seconds: number;
}
