import type { LimitSpec } from '../../counters/types.ts';
import type { RateLimitConfig } from './schema.ts';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
};

/** Parses `100/min`, `5/10s`, `50000/day` into a count and a period in ms. The schema has checked the shape. */
export function parseRate(text: string): { count: number; periodMs: number } {
  const match = /^(\d+)\/(\d+)?([a-z]+)$/.exec(text);
  if (!match) throw new Error(`invalid rate "${text}"`);
  const unit = UNIT_MS[match[3]!];
  if (unit === undefined) throw new Error(`unknown time unit in "${text}"`);
  return { count: Number(match[1]), periodMs: Number(match[2] ?? 1) * unit };
}

/**
 * The counter spec of one configured limit. Throws an Error (the caller adds the config path) when the fields do
 * not fit the algorithm: windows need `limit`; token buckets need `rate` or `limit` (burst defaults to the count).
 */
export function limitSpecOf(config: RateLimitConfig): LimitSpec {
  if (config.algorithm === 'token_bucket') {
    const text = config.rate ?? config.limit;
    if (!text) throw new Error('a token_bucket limit needs rate (and optionally burst)');
    const { count, periodMs } = parseRate(text);
    return { algorithm: 'token_bucket', intervalMs: periodMs / count, burst: config.burst ?? count };
  }
  if (!config.limit) throw new Error(`a ${config.algorithm} limit needs limit (e.g. "100/min")`);
  if (config.rate !== undefined || config.burst !== undefined) throw new Error('rate and burst apply to token_bucket only');
  const { count, periodMs } = parseRate(config.limit);
  if (config.algorithm === 'sliding_log' && count > 1000) throw new Error('sliding_log keeps one entry per request: use it for limits up to 1000');
  return { algorithm: config.algorithm, limit: count, windowMs: periodMs };
}

/** The quota and window of a spec for the `RateLimit-Policy` header (window in whole seconds, at least 1). */
export function policyItem(name: string, spec: LimitSpec): string {
  const quota = spec.algorithm === 'token_bucket' ? spec.burst : spec.limit;
  const windowMs = spec.algorithm === 'token_bucket' ? spec.burst * spec.intervalMs : spec.windowMs;
  return `"${name}";q=${quota};w=${Math.max(1, Math.ceil(windowMs / 1000))}`;
}
