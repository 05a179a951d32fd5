import { durationMs } from '../../config/refs.ts';

const count = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000, default: def, description }) as const;

/** `apis[].auth.failure_backoff`. */
export const failureBackoffSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Brute-force protection on authentication: presented-but-invalid credentials (bad tokens, wrong API keys) are counted per client IP (IPv6: per `counters.ipv6_prefix` network) and per API key id from that client; past the free failures each further failure locks that IP, or that key id for that client, out for an exponentially growing time (429 `auth_backoff` with Retry-After). A failure is answered only once it is counted, atomically with the lockout check, so parallel attempts get no more answers than the free failures. Counts live in the rate-limit counter backend (memory or Redis).',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Count authentication failures and back off.' },
    window_ms: durationMs(3_600_000, 'Failures are remembered for this long after the first one, in ms.', 86_400_000),
    free_failures_ip: count(10, 'Failures from one client IP before it is backed off.'),
    free_failures_key: count(
      20,
      'Failures naming one API key id (wrong secret, revoked, expired) from one client before that key id is backed off for that client (never for its owner elsewhere).',
    ),
    base_delay_ms: durationMs(1000, 'Lockout after the first failure past the free ones; it doubles with each further failure, in ms.', 3_600_000),
    max_delay_ms: durationMs(900_000, 'Longest lockout, in ms.', 86_400_000),
  },
} as const;

export interface FailureBackoffConfig {
  readonly enabled: boolean;
  readonly window_ms: number;
  readonly free_failures_ip: number;
  readonly free_failures_key: number;
  readonly base_delay_ms: number;
  readonly max_delay_ms: number;
}
