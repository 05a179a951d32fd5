import type { JWTPayload } from 'jose';

/** A claim lookup compiled once: `a.b.c` reads nested objects. */
export type ClaimPath = readonly string[];

/** Splits a claim name on dots (nested claims, e.g. `realm_access.roles`). */
export function claimPath(name: string): ClaimPath {
  return name.split('.');
}

/** Reads a claim by path; undefined when any step is missing. */
export function readClaim(payload: JWTPayload | Record<string, unknown>, path: ClaimPath): unknown {
  let value: unknown = payload;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A list claim as strings: a space-separated string or an array of strings (other members ignored). */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

/** A single-string claim, or undefined. */
export function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
