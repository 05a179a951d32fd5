import type { ProxiedResponse } from '../../pipeline/stages.ts';
import { mediaTypeOf } from '../limits/index.ts';

const parsed = new WeakMap<ProxiedResponse, { body: Buffer; value: unknown }>();

export type JsonBody = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** Whether a response media type is JSON (`application/json`, `+json`). */
export function isJsonResponse(response: ProxiedResponse): boolean {
  const type = mediaTypeOf(headerValue(response.headers['content-type']));
  return type !== undefined && (type === 'application/json' || type.endsWith('+json'));
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The buffered upstream body parsed as JSON, parsed once per response and shared by response policies (ownership,
 * minimisation). Compressed or non-JSON bodies are reported as not ok.
 */
export function jsonBodyOf(response: ProxiedResponse): JsonBody {
  const body = response.body;
  if (!body) return { ok: false, reason: 'no buffered body' };
  const cached = parsed.get(response);
  if (cached && cached.body === body) return { ok: true, value: cached.value };
  const encoding = headerValue(response.headers['content-encoding']);
  if (encoding && encoding.toLowerCase() !== 'identity') return { ok: false, reason: `content-encoding ${encoding}` };
  if (!isJsonResponse(response)) return { ok: false, reason: 'not a JSON media type' };
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    parsed.set(response, { body, value });
    return { ok: true, value };
  } catch {
    return { ok: false, reason: 'malformed JSON' };
  }
}

/** Replaces the response body with `value` serialised as JSON (content-length is set by the proxy; ETag dropped). */
export function replaceJsonBody(response: ProxiedResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  response.body = body;
  parsed.set(response, { body, value });
  delete response.headers['etag'];
  delete response.headers['content-md5'];
}
