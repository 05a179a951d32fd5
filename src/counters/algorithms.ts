/**
 * The rate-limit algorithms as pure functions over the stored state, shared by the memory backend and the Redis
 * backend (whose Lua scripts do the same state transitions and return the state; the decision is computed here).
 * Times are integer milliseconds except GCRA, which works in integer microseconds.
 */
import type { Decision } from './types.ts';

/** Index of the aligned window containing `nowMs`. */
export function windowIndex(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs);
}

/** Fixed window: `count` is the window's count after the decision (incremented only when allowed). */
export function fixedWindowDecision(allowed: boolean, count: number, limit: number, windowMs: number, nowMs: number): Decision {
  const resetMs = (windowIndex(nowMs, windowMs) + 1) * windowMs - nowMs;
  return { allowed, limit, remaining: Math.max(0, limit - count), resetMs, retryAfterMs: allowed ? 0 : resetMs };
}

/** Weight of the previous window in the sliding estimate: the share of it still inside the sliding window. */
export function previousWeight(nowMs: number, windowMs: number): number {
  return (windowMs - (nowMs - windowIndex(nowMs, windowMs) * windowMs)) / windowMs;
}

/** Whether one more request fits the weighted two-window estimate. */
export function slidingAllows(current: number, previous: number, weight: number, limit: number): boolean {
  return previous * weight + current + 1 <= limit;
}

/** Sliding window (weighted): `current` is the current window's count after the decision. */
export function slidingWindowDecision(allowed: boolean, current: number, previous: number, limit: number, windowMs: number, nowMs: number): Decision {
  const start = windowIndex(nowMs, windowMs) * windowMs;
  const weight = previousWeight(nowMs, windowMs);
  const used = previous * weight + current;
  const remaining = Math.max(0, Math.floor(limit - used));
  const windowEnd = start + windowMs - nowMs;
  // The estimate is fully reset once the current window's requests have slid out too.
  const resetMs = current > 0 ? windowEnd + windowMs : previous > 0 ? windowEnd : 0;
  if (allowed) return { allowed, limit, remaining, resetMs, retryAfterMs: 0 };
  let retryAfterMs = windowEnd;
  if (current + 1 <= limit && previous > 0) {
    // Find when previous * w(t) + current + 1 <= limit inside this window: w(t) = (limit - 1 - current) / previous.
    const weightNeeded = (limit - 1 - current) / previous;
    const at = start + Math.ceil(windowMs * (1 - weightNeeded));
    retryAfterMs = Math.max(1, Math.min(windowEnd, at - nowMs));
  }
  return { allowed, limit, remaining, resetMs, retryAfterMs };
}

/** Sliding log: `count` entries in the log after the decision, `oldestMs` the oldest entry (or undefined). */
export function slidingLogDecision(allowed: boolean, count: number, oldestMs: number | undefined, limit: number, windowMs: number, nowMs: number): Decision {
  const resetMs = oldestMs === undefined ? 0 : oldestMs + windowMs - nowMs;
  return { allowed, limit, remaining: Math.max(0, limit - count), resetMs, retryAfterMs: allowed ? 0 : Math.max(1, resetMs) };
}

/** GCRA state transition. `tatUs` is the stored theoretical arrival time (0 if none). Returns the new TAT if allowed. */
export function gcra(nowUs: number, tatUs: number, intervalUs: number, burst: number): { allowed: boolean; tatUs: number } {
  const tat = Math.max(tatUs, nowUs);
  const next = tat + intervalUs;
  if (nowUs < next - burst * intervalUs) return { allowed: false, tatUs: tat };
  return { allowed: true, tatUs: next };
}

/** Token bucket (GCRA) decision from the TAT after the transition. */
export function gcraDecision(allowed: boolean, tatUs: number, intervalUs: number, burst: number, nowUs: number): Decision {
  const ahead = Math.max(0, tatUs - nowUs);
  const remaining = Math.max(0, Math.floor((burst * intervalUs - ahead) / intervalUs));
  const resetMs = Math.ceil(ahead / 1000);
  // Denied: the next request fits once now >= tat + interval - burst * interval.
  const retryAfterMs = allowed ? 0 : Math.max(1, Math.ceil((tatUs + intervalUs - burst * intervalUs - nowUs) / 1000));
  return { allowed, limit: burst, remaining, resetMs, retryAfterMs };
}

/** Milliseconds per token as integer microseconds (GCRA runs in whole µs so Redis and memory agree exactly). */
export function intervalMicros(intervalMs: number): number {
  return Math.max(1, Math.round(intervalMs * 1000));
}

/** Stored key for one algorithm's state: `{group}suffix`. Braces in the group are escaped so the hash tag holds. */
export function storageKey(group: string, suffix: string): string {
  return `{${group.replaceAll('{', '%7B').replaceAll('}', '%7D')}}${suffix}`;
}
