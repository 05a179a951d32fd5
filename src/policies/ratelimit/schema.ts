/** Config schema of rate limits (`apis[].rate_limits`, `apis[].operations.<id>.rate_limits`, `plans`). */

const RATE = '^[1-9][0-9]{0,9}/([1-9][0-9]{0,5})?(ms|s|sec|second|m|min|minute|h|hour|d|day)$';

/** One rate limit. */
export const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  description: 'One rate limit: what it counts by (key), how (algorithm) and how much (limit, or rate and burst).',
  properties: {
    name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'Identifier, shown in RateLimit headers, logs and the admin API.' },
    key: {
      type: 'string',
      pattern: '^(ip|consumer|api_key|route|operation|header:[A-Za-z0-9-]{1,64}|cel:.{1,1024})$',
      default: 'ip',
      description:
        'What is counted separately: `ip`, `consumer`, `api_key`, `route` (method + path template), `operation`, `header:<name>` (value hashed) or `cel:<expression>` (over `request` and `identity`). Consumer/api_key fall back to the IP for anonymous calls.',
    },
    algorithm: {
      enum: ['fixed_window', 'sliding_window', 'sliding_log', 'token_bucket'],
      default: 'sliding_window',
      description:
        'Counting algorithm; see docs/rate-limiting.md for the trade-offs and exact bounds. `sliding_window` is an estimate: up to limit × (1 + f) in the first window of traffic starting at fraction f of a window, under 2 × limit at worst. `sliding_log` is exact (only for limits up to 1000). `token_bucket` admits up to burst + rate × window in its first window.',
    },
    limit: { type: 'string', pattern: RATE, description: 'Requests per window, e.g. `100/min`, `20/s`, `50000/day`, `5/10s`.' },
    rate: { type: 'string', pattern: RATE, description: 'Token bucket: refill rate, e.g. `50/s`.' },
    burst: { type: 'integer', minimum: 1, maximum: 1_000_000_000, description: 'Token bucket: most requests at once (default: the rate count).' },
    action: { enum: ['reject', 'delay'], default: 'reject', description: '`reject` answers 429; `delay` waits (up to max_delay_ms) for capacity, then 429.' },
    max_delay_ms: { type: 'integer', minimum: 1, maximum: 60000, default: 1000, description: 'Longest wait of `action: delay`, in ms.' },
    failure: {
      enum: ['open', 'closed'],
      description:
        'When the shared counter backend is unreachable: `open` counts in local memory instead (each instance on its share, limit / instances), `closed` denies (503). Default: closed on login routes, open elsewhere.',
    },
    operations: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9_./{}-]{1,128}$' },
      uniqueItems: true,
      maxItems: 1024,
      description: 'Apply only to these operationIds (default: every operation of the API).',
    },
    stage: {
      enum: ['pre_auth', 'post_auth'],
      description: 'When it runs. Default: post_auth for consumer, api_key and cel keys; pre_auth otherwise.',
    },
  },
} as const;

export const rateLimitListSchema = {
  type: 'array',
  items: rateLimitSchema,
  maxItems: 32,
  description: 'Rate limits; every one must pass. See docs/rate-limiting.md.',
} as const;

/** `plans:` — named sets of limits assigned to consumers. */
export const plansSchema = {
  type: 'object',
  propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,62}$' },
  additionalProperties: rateLimitListSchema,
  default: {},
  description:
    'Rate-limit plans by name. A consumer whose identity carries a plan (its `plan`, or the `plan` claim) gets that plan’s limits after authentication; others get plan `default` when defined.',
} as const;

export interface RateLimitConfig {
  readonly name: string;
  readonly key: string;
  readonly algorithm: 'fixed_window' | 'sliding_window' | 'sliding_log' | 'token_bucket';
  readonly limit?: string;
  readonly rate?: string;
  readonly burst?: number;
  readonly action: 'reject' | 'delay';
  readonly max_delay_ms: number;
  readonly failure?: 'open' | 'closed';
  readonly operations?: readonly string[];
  readonly stage?: 'pre_auth' | 'post_auth';
}
