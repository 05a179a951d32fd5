import { durationMs, secretRef } from '../../config/refs.ts';

const count = (def: number, description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000, default: def, description }) as const;

export const DEFAULT_FAILURE_STATUSES = [401, 403] as const;
export const DEFAULT_MIN_RESPONSE_MS = 500;

/** One body condition of a failed login: the JSON value at `pointer` equals, matches or is present. */
const failureBodyRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['pointer'],
  description: 'The response is a failed login when its JSON body has, at `pointer`, a value that `equals` / `matches`, or any value (`present: true`); exactly one of the three.',
  properties: {
    pointer: { type: 'string', pattern: '^(/([^~/]|~[01]){0,128}){1,8}$', description: 'RFC 6901 JSON pointer into the response body, e.g. `/message` or `/error/code`.' },
    equals: { type: ['string', 'number', 'boolean'], description: 'The value at the pointer equals this (strings exactly).' },
    matches: { type: 'string', minLength: 1, maxLength: 256, description: 'A regular expression (JavaScript, `u` flag) the string at the pointer matches.' },
    present: { const: true, description: 'Any value at the pointer (e.g. an `/error` member only failures have).' },
    status: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'integer', minimum: 100, maximum: 499 },
      description: 'Response statuses this rule looks at. Default: any status under 500.',
    },
  },
} as const;

/** Login route marker: `x-rampart-login` in the spec, or `apis[].operations.<id>.login`. */
export const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['account_field'],
  description: 'Marks a login operation: failed attempts (by default upstream 401/403; see `failure`) are counted for brute-force protection.',
  properties: {
    account_field: {
      type: 'string',
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: 'Request body field (JSON or form) holding the account identifier; it is hashed (HMAC), never stored.',
    },
    failure: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'How a failed login looks: a status in `status`, or a response any `body` rule matches (for logins that answer failures with 200).',
      properties: {
        status: {
          type: 'array',
          uniqueItems: true,
          maxItems: 32,
          items: { type: 'integer', minimum: 100, maximum: 499 },
          default: [...DEFAULT_FAILURE_STATUSES],
          description: 'Response statuses that are failed logins on their own.',
        },
        body: { type: 'array', minItems: 1, maxItems: 16, items: failureBodyRuleSchema, description: 'Body rules; any one matching makes the response a failed login.' },
      },
    },
    uniform_failures: {
      type: 'boolean',
      default: false,
      description:
        'Every failed login answers the same generic 401 problem (`login_failed`) after at least `min_response_ms`, so neither body nor timing tells whether the account exists.',
    },
    min_response_ms: {
      type: 'integer',
      minimum: 0,
      maximum: 10_000,
      default: DEFAULT_MIN_RESPONSE_MS,
      description: 'With `uniform_failures`: the least time a failed login takes, from the request\'s arrival, in milliseconds. Set it above the upstream\'s slowest login.',
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

export interface FailureBodyRule {
  readonly pointer: string;
  readonly equals?: string | number | boolean;
  readonly matches?: string;
  readonly present?: true;
  readonly status?: readonly number[];
}

export interface LoginConfig {
  readonly account_field: string;
  readonly failure: { readonly status: readonly number[]; readonly body?: readonly FailureBodyRule[] };
  readonly uniform_failures: boolean;
  readonly min_response_ms: number;
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
