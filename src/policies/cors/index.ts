import type { CorsConfig } from '../../config/types.ts';
import type { RouteCors } from '../../pipeline/types.ts';

/** A compiled CORS allowlist for one route. */
export type CorsPolicy = RouteCors;

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Builds the CORS policy. Origins are matched exactly; `*` is answered as `*` only without credentials (config
 * validation rejects the combination). `Vary: Origin` is always set so caches never mix origins.
 */
export function createCorsPolicy(config: CorsConfig, routeMethods: readonly string[]): CorsPolicy {
  const anyOrigin = config.allow_origins.includes('*');
  const origins = new Set(config.allow_origins);
  const methods = new Set((config.allow_methods ?? routeMethods).map((m) => m.toUpperCase()));
  const allowHeaders = new Set(config.allow_headers.map((h) => h.toLowerCase()));
  const methodList = [...methods].join(', ');
  const headerList = [...allowHeaders].join(', ');
  const expose = config.expose_headers.join(', ');

  const allowed = (origin: string) => anyOrigin || origins.has(origin);
  const originValue = (origin: string) => (anyOrigin && !config.allow_credentials ? '*' : origin);
  const base = (origin: string): Record<string, string> => {
    const headers: Record<string, string> = { 'access-control-allow-origin': originValue(origin), vary: 'Origin' };
    if (config.allow_credentials) headers['access-control-allow-credentials'] = 'true';
    return headers;
  };

  return {
    preflight(origin, method, requestedHeaders) {
      if (!allowed(origin) || !methods.has(method.toUpperCase())) return undefined;
      if (requestedHeaders) {
        for (const header of requestedHeaders.split(',')) {
          const name = header.trim().toLowerCase();
          if (name !== '' && !allowHeaders.has(name)) return undefined;
        }
      }
      return {
        ...base(origin),
        'access-control-allow-methods': methodList,
        'access-control-allow-headers': headerList,
        'access-control-max-age': String(config.max_age_seconds),
      };
    },
    responseHeaders(origin) {
      if (origin === undefined || !allowed(origin)) return NONE;
      const headers = base(origin);
      if (expose) headers['access-control-expose-headers'] = expose;
      return headers;
    },
  };
}
