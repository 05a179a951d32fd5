import { GatewayError } from '../../problem.ts';
import type { RequestContext, ProxiedResponse, ResponsePolicy, PolicyBuildInput } from '../../pipeline/types.ts';

/**
 * Upstream response headers that pass on every operation without being declared: representation metadata and
 * caching/protocol headers a client needs to use the body. Everything else (`Set-Cookie`, `X-Internal-Token`,
 * `X-Debug`, `Server-Timing`, …) passes only where the operation declares it for the status.
 */
export const SAFE_RESPONSE_HEADERS: readonly string[] = [
  'accept-ranges',
  'age',
  'allow',
  'cache-control',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expires',
  'last-modified',
  'location',
  'retry-after',
  'vary',
  'www-authenticate',
];

/** Headers that must appear once: two values make clients and caches disagree on the body. */
const SINGLETONS = ['content-type', 'content-length', 'content-encoding', 'content-range', 'location', 'etag', 'last-modified'];

/**
 * Response header minimisation for one operation (the `headers` response stage): only headers the operation
 * declares for the upstream status (exact, `2XX` range or `default`), the safe list and `response.allow_headers`
 * pass; a repeated singleton header (two `Content-Type`s) is a non-conforming response (502 in `enforce` mode,
 * logged in `monitor` mode). Returns undefined for passthrough routes and `mode: off`.
 */
export function createResponseHeadersPolicy(input: PolicyBuildInput): ResponsePolicy | undefined {
  const { operation, api } = input;
  const config = api.response;
  if (!operation || config.mode === 'off') return undefined;
  const base = [...SAFE_RESPONSE_HEADERS, ...config.allow_headers.map((h) => h.toLowerCase())].filter((h) => h !== 'set-cookie');
  const allowed = new Map<string, ReadonlySet<string>>();
  for (const [status, response] of Object.entries(operation.responses)) {
    const declared = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
    allowed.set(status.toUpperCase(), new Set([...base, ...declared]));
  }
  const fallback: ReadonlySet<string> = new Set(base);
  const monitor = config.mode === 'monitor';
  const logger = input.services.logger;
  const operationId = operation.operationId;
  return {
    name: 'response-headers',
    stage: 'headers',
    needsBody: false,
    run(ctx: RequestContext, response: ProxiedResponse): void {
      const status = String(response.status);
      const names = allowed.get(status) ?? allowed.get(`${status[0]}XX`) ?? allowed.get('DEFAULT') ?? fallback;
      const headers = response.headers;
      for (const name of SINGLETONS) {
        const value = headers[name];
        if (Array.isArray(value) && value.length > 1) {
          ctx.notes.responseViolation = `repeated ${name} header`;
          if (!monitor) throw new GatewayError('upstream_invalid_response', `response contract: repeated ${name} header`);
          logger.warn({ requestId: ctx.id, operationId, header: name }, 'repeated response header (monitor mode)');
        }
      }
      let removed: string[] | undefined;
      for (const name in headers) {
        if (names.has(name)) continue;
        delete headers[name];
        (removed ??= []).push(name);
      }
      if (removed) ctx.notes.responseHeadersRemoved = removed.length;
    },
  };
}
