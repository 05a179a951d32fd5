import { durationMs } from '../config/refs.ts';

/** `counters:` — where rate-limit and brute-force counters live. */
export const countersSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Where rate-limit, quota and brute-force counters live: `memory` (one process) or `redis` (shared, exact across instances).',
  properties: {
    kind: { enum: ['memory', 'redis'], default: 'memory', description: 'Counter backend.' },
    url: {
      type: 'string',
      pattern: '^(\\$\\{(env|file):[^}]+\\}|rediss?://[^@/\\s]+(/[0-9]{1,2})?)$',
      default: 'redis://127.0.0.1:6379',
      description:
        'Redis URL (`kind: redis`). A URL with credentials must be a reference (`${env:REDIS_URL}`); a literal password is rejected.',
    },
    prefix: { type: 'string', pattern: '^[A-Za-z0-9_:.-]{0,64}$', default: 'rampart:', description: 'Prefix of every Redis key.' },
    timeout_ms: durationMs(50, 'Longest wait for one Redis call, in ms; then the limit fails open or closed.', 5000),
    breaker_failures: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: 'Consecutive Redis failures that open the circuit breaker (calls then fail at once).',
    },
    breaker_cooldown_ms: durationMs(1000, 'How long the circuit stays open before Redis is probed again, in ms.', 60000),
    instances: {
      type: 'integer',
      minimum: 1,
      maximum: 1024,
      description:
        'Gateway instances sharing the Redis counters. While Redis does not answer, each instance admits at most limit / instances of a fail-open limit. Default: learned from heartbeats in Redis (instances that served a request in the last 3 s).',
    },
    max_keys: {
      type: 'integer',
      minimum: 100,
      maximum: 10_000_000,
      default: 100_000,
      description:
        'Most ordinary keys held in memory (the memory backend, and the local fallback of fail-open limits); least recently used go first. Entries that deny (lockouts, limits at zero) are held apart, up to as many again, and never evicted while they deny.',
    },
    ipv6_prefix: {
      type: 'integer',
      minimum: 32,
      maximum: 128,
      default: 64,
      description: 'IPv6 clients are counted per network of this prefix length for per-IP rate limits, brute-force and authentication backoff (128 = per address).',
    },
  },
} as const;

export interface CountersConfig {
  readonly kind: 'memory' | 'redis';
  readonly url: string;
  readonly prefix: string;
  readonly timeout_ms: number;
  readonly breaker_failures: number;
  readonly breaker_cooldown_ms: number;
  readonly instances?: number;
  readonly max_keys: number;
  readonly ipv6_prefix: number;
}
