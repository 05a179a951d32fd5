/** `apis[].concurrency` and `apis[].operations.<id>.concurrency`. */
export const concurrencySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['max_in_flight'],
  description: 'Most requests in flight at once per key in this gateway process; past it the request is refused.',
  properties: {
    max_in_flight: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Requests in flight at once per key.' },
    key: {
      enum: ['route', 'consumer', 'ip', 'api_key'],
      default: 'consumer',
      description: 'What is counted separately (consumer and api_key fall back to the IP for anonymous calls).',
    },
    status: { enum: [429, 503], default: 429, description: 'Status past the limit: 429 (too many concurrent) or 503 (unavailable).' },
  },
} as const;

export interface ConcurrencyConfig {
  readonly max_in_flight: number;
  readonly key: 'route' | 'consumer' | 'ip' | 'api_key';
  readonly status: 429 | 503;
}
