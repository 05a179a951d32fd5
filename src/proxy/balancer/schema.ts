import { durationMs } from '../../config/refs.ts';
import type { ConfigIssue } from '../../config/errors.ts';

export const UPSTREAM_URL_PATTERN = '^https?://[^/?#]+/?$';

/** `upstreams.<name>.targets`, `balance`, `health_check`, `outlier`, `retries`: a pool of instances of one service. */
export const balancerProperties = {
  targets: {
    type: 'array',
    minItems: 1,
    maxItems: 64,
    description: 'Several instances of the service (instead of `url`): requests are balanced over the ones in rotation.',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', pattern: UPSTREAM_URL_PATTERN, description: 'Origin of the instance: scheme://host[:port].' },
        weight: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: 'Share of requests, relative to the other targets.' },
      },
    },
  },
  balance: {
    enum: ['round_robin', 'least_requests'],
    default: 'round_robin',
    description: '`round_robin`: smooth weighted round robin. `least_requests`: the target with the fewest requests in flight per unit of weight.',
  },
  health_check: {
    type: 'object',
    additionalProperties: false,
    required: ['path'],
    description: 'Active health checks: a GET of `path` on every target; a target failing them leaves rotation until it passes again. Off when absent.',
    properties: {
      path: { type: 'string', pattern: '^/[^\\s?#]*(\\?[^\\s#]*)?$', maxLength: 1024, description: 'Path (and query) to GET, e.g. `/healthz`.' },
      interval_ms: durationMs(2000, 'Time between checks of one target (ms).', 300_000),
      timeout_ms: durationMs(1000, 'A check not answered in this time fails (ms).', 60_000),
      healthy_threshold: { type: 'integer', minimum: 1, maximum: 10, default: 2, description: 'Passed checks in a row that bring a target back.' },
      unhealthy_threshold: {
        type: 'integer',
        minimum: 1,
        maximum: 10,
        default: 2,
        description: 'Failed checks in a row that take a target out. A refused connection takes it out at once.',
      },
    },
  },
  outlier: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description:
      'Passive health: a target that fails requests (connection errors, timeouts, 502/503/504) is ejected for a while, longer each time. Applies to upstreams with two or more targets.',
    properties: {
      consecutive_failures: { type: 'integer', minimum: 1, maximum: 1000, default: 3, description: 'Failures in a row that eject a target. A refused connection ejects at once.' },
      ejection_ms: durationMs(5000, 'First ejection time; each further ejection doubles it (ms).', 600_000),
      max_ejection_ms: durationMs(120_000, 'Longest ejection (ms).', 3_600_000),
    },
  },
  retries: {
    type: 'object',
    additionalProperties: false,
    default: {},
    description:
      'Retries of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE without a streamed body) on another target, before any byte reached the client.',
    properties: {
      attempts: { type: 'integer', minimum: 0, maximum: 5, default: 1, description: 'Retries after the first try (0: none).' },
      on_status: {
        type: 'array',
        uniqueItems: true,
        maxItems: 16,
        items: { type: 'integer', minimum: 500, maximum: 599 },
        default: [502, 503, 504],
        description: 'Upstream statuses retried (connection errors and timeouts always are).',
      },
      budget_ratio: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        default: 0.2,
        description: 'Retries may be at most this share of the requests of the last 10 s, so retries cannot multiply the load of an outage.',
      },
      min_per_second: { type: 'integer', minimum: 0, maximum: 1000, default: 3, description: 'Retries always allowed per second whatever the ratio (low traffic).' },
      backoff_ms: durationMs(25, 'Base of the jittered exponential backoff between tries (ms).', 10_000),
      max_backoff_ms: durationMs(250, 'Longest backoff (ms).', 60_000),
    },
  },
} as const;

export interface UpstreamTarget {
  readonly url: string;
  readonly weight: number;
}

export interface HealthCheckConfig {
  readonly path: string;
  readonly interval_ms: number;
  readonly timeout_ms: number;
  readonly healthy_threshold: number;
  readonly unhealthy_threshold: number;
}

export interface OutlierConfig {
  readonly consecutive_failures: number;
  readonly ejection_ms: number;
  readonly max_ejection_ms: number;
}

export interface RetryConfig {
  readonly attempts: number;
  readonly on_status: readonly number[];
  readonly budget_ratio: number;
  readonly min_per_second: number;
  readonly backoff_ms: number;
  readonly max_backoff_ms: number;
}

/** What the schema cannot say: exactly one of `url` and `targets`, the same scheme on every target, no duplicate. */
export function checkUpstreamTargets(name: string, upstream: { readonly url?: string; readonly targets?: readonly UpstreamTarget[] }): ConfigIssue[] {
  const at = `upstreams.${name}`;
  if ((upstream.url === undefined) === (upstream.targets === undefined)) {
    return [{ path: at, message: upstream.url === undefined ? 'has neither url nor targets' : 'has both url and targets', hint: 'give url for one instance, or targets for several' }];
  }
  const origins: string[] = [];
  for (const [i, target] of targetsOf(upstream).entries()) {
    const path = upstream.targets ? `${at}.targets[${i}].url` : `${at}.url`;
    try {
      const url = new URL(target.url);
      if (url.username !== '' || url.password !== '') return [{ path, message: 'has a credential in it', hint: 'use upstream_credential or identity for upstream authentication' }];
      origins.push(url.origin);
    } catch {
      return [{ path, message: 'is not a valid URL', hint: 'use scheme://host[:port], e.g. http://127.0.0.1:3000' }];
    }
  }
  const duplicate = origins.find((o, i) => origins.indexOf(o) !== i);
  if (duplicate) return [{ path: `${at}.targets`, message: `lists ${duplicate} twice`, hint: 'list each instance once (use weight for a bigger share)' }];
  const schemes = new Set(origins.map((o) => o.split(':')[0]));
  if (schemes.size > 1) return [{ path: `${at}.targets`, message: 'mixes http and https targets', hint: 'one upstream speaks one protocol: split it in two upstreams' }];
  return [];
}

/** The targets of an upstream: its `targets`, or its one `url`. */
export function targetsOf(upstream: { readonly url?: string; readonly targets?: readonly UpstreamTarget[] }): readonly UpstreamTarget[] {
  return upstream.targets ?? [{ url: upstream.url!, weight: 1 }];
}
