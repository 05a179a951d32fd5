import { GatewayError } from '../problem.ts';

/**
 * The one list envelope of the admin API: `{ items, next }`, where `next` is the cursor to pass as `after=` for the
 * following page and `null` on the last page. Every list route pages the same way: `limit` (1–500, default 100)
 * and `after`.
 */
export interface Page<V> {
  readonly items: V[];
  readonly next: string | null;
}

/** Largest page; the default is {@link DEFAULT_PAGE}. */
export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 100;

/** The query of an admin request. */
export function queryOf(url: string | undefined): URLSearchParams {
  const index = (url ?? '/').indexOf('?');
  return new URLSearchParams(index === -1 ? '' : url!.slice(index + 1));
}

/** `limit` of a list request: 400 unless an integer from 1 to MAX_PAGE. */
export function pageSize(q: URLSearchParams): number {
  const raw = q.get('limit');
  if (raw === null) return DEFAULT_PAGE;
  if (!/^[0-9]{1,3}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PAGE) throw invalidQuery('limit', `must be an integer from 1 to ${MAX_PAGE}`);
  return Number(raw);
}

/** `after` of a list request, checked against the cursor's shape (400 otherwise). */
export function cursorOf(q: URLSearchParams, shape: RegExp): string | undefined {
  const raw = q.get('after');
  if (raw === null) return undefined;
  if (!shape.test(raw)) throw invalidQuery('after', 'is not a cursor from a previous page');
  return raw;
}

/**
 * The page for rows fetched with one row more than `size` (so whether another page follows is known without a
 * count): the first `size` rows, and `next` = the cursor of the last one shown when more rows were there.
 */
export function pageOf<T, V>(rows: readonly T[], size: number, cursor: (row: T) => string, view: (row: T) => V): Page<V> {
  const items = rows.slice(0, size);
  return { items: items.map(view), next: rows.length > size ? cursor(items.at(-1)!) : null };
}

/**
 * Pages a list the server holds whole (blocks, lockouts, counters): ordered by `key`, the page after the `after`
 * cursor (a key; any string, compared in order, so a stale cursor still lands in the right place).
 */
export function pageInMemory<T>(rows: readonly T[], q: URLSearchParams, key: (row: T) => string): Page<T> {
  const size = pageSize(q);
  const after = q.get('after');
  if (after !== null && after.length > 1024) throw invalidQuery('after', 'is not a cursor from a previous page');
  const sorted = rows.map((row) => [key(row), row] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let start = 0;
  if (after !== null) while (start < sorted.length && sorted[start]![0] <= after) start++;
  return pageOf(sorted.slice(start, start + size + 1), size, (entry) => entry[0], (entry) => entry[1]);
}

function invalidQuery(name: string, message: string): GatewayError {
  return new GatewayError('validation_failed', `admin API: ${name} ${message}`, { errors: [{ pointer: `query/${name}`, message }] });
}
