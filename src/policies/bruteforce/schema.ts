import { durationMs, secretRef } from '../../config/refs.ts';

const count = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000, default: def, description }) as const;

/** Login route marker: `x-rampart-login` in the spec, or `apis[].operations.<id>.login`. */
export const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['account_field'],
  description: 'Marks a login operation: failed attempts (upstream 401/403) are counted for brute-force protection.',
  properties: {
    account_field: {
      type: 'string',
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: 'Request body field (JSON or form) holding the account identifier; it is hashed (HMAC), never stored.',
    },
  },
} as const;

/** `apis[].brute_force`. */
export const bruteForceSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Brute-force and credential-stuffing protection on login operations. See docs/rate-limiting.md.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Protect the API’s login operations.' },
    window_ms: durationMs(900_000, 'Failures are counted over this window, in ms.', 86_400_000),
    lockout_ms: durationMs(900_000, 'How long a lockout lasts, in ms.', 86_400_000),
    max_failures_ip_account: count(5, 'Failures for one account from one IP before that pair is locked out.'),
    max_failures_ip: count(20, 'Failures from one IP (any account) before the IP is locked out of login.'),
    max_failures_account: count(50, 'Failures for one account (any IP) before the account is locked out everywhere.'),
    delay_after: count(2, 'Failures (per IP or IP×account) before each attempt is slowed down.'),
    delay_base_ms: durationMs(250, 'First delay; it doubles with each further failure, in ms.', 60000),
    max_delay_ms: durationMs(2000, 'Longest delay before an attempt is forwarded, in ms.', 60000),
    distinct_accounts_per_ip: count(5, 'Distinct accounts failing from one IP within the window that raise a credential-stuffing event.'),
    distinct_ips_per_account: count(5, 'Distinct IPs failing for one account within the window that raise a distributed brute-force event.'),
    account_key: {
      ...secretRef,
      description:
        'HMAC key for account identifiers (`${env:…}`/`${file:…}` reference). Required with Redis counters so every instance hashes alike; default with memory counters: a random per-process key.',
    },
    failure: {
      enum: ['open', 'closed'],
      default: 'closed',
      description: 'When the counter backend is unreachable: `closed` denies login attempts (503), `open` counts locally.',
    },
  },
} as const;

export interface LoginConfig {
  readonly account_field: string;
}

export interface BruteForceConfig {
  readonly enabled: boolean;
  readonly window_ms: number;
  readonly lockout_ms: number;
  readonly max_failures_ip_account: number;
  readonly max_failures_ip: number;
  readonly max_failures_account: number;
  readonly delay_after: number;
  readonly delay_base_ms: number;
  readonly max_delay_ms: number;
  readonly distinct_accounts_per_ip: number;
  readonly distinct_ips_per_account: number;
  readonly account_key?: string;
  readonly failure: 'open' | 'closed';
}
