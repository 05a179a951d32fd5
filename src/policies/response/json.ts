import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { ProxiedResponse } from '../../pipeline/types.ts';
import { isJsonMediaType, mediaTypeOf } from '../../http/media.ts';
import { MAX_RESPONSE_BUFFER_BYTES as MAX_DECODED_BYTES } from '../../http/limits.ts';


const DECODERS: Record<string, (buffer: Buffer, options: { maxOutputLength: number }) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

const parsed = new WeakMap<ProxiedResponse, { body: Buffer; value: unknown }>();

export type JsonBody = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** Whether a response media type is JSON (`application/json`, `+json`). */
export function isJsonResponse(response: ProxiedResponse): boolean {
  const type = mediaTypeOf(headerValue(response.headers['content-type']));
  return type !== undefined && isJsonMediaType(type);
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The buffered upstream body parsed as JSON, parsed once per response and shared by response policies (ownership,
 * minimisation). A compressed body is decoded first ({@link decodeBody}); non-JSON bodies are reported as not ok.
 */
export function jsonBodyOf(response: ProxiedResponse): JsonBody {
  const body = response.body;
  if (!body) return { ok: false, reason: 'no buffered body' };
  const cached = parsed.get(response);
  if (cached && cached.body === body) return { ok: true, value: cached.value };
  if (!isJsonResponse(response)) return { ok: false, reason: 'not a JSON media type' };
  const decoded = decodeBody(response);
  if (!decoded.ok) return decoded;
  const plain = response.body!;
  try {
    const value: unknown = JSON.parse(plain.toString('utf8'));
    parsed.set(response, { body: plain, value });
    return { ok: true, value };
  } catch {
    return { ok: false, reason: 'malformed JSON' };
  }
}

/**
 * Undoes the upstream's `Content-Encoding` (gzip, deflate, br, in the order listed) in place, so response checks see
 * the real bytes: the body becomes identity-encoded and the header is removed. Many upstreams compress whenever the
 * client accepts it. Output is capped at {@link MAX_DECODED_BYTES} (decompression bombs); an unknown encoding or a
 * corrupt or oversized stream is reported as not ok and the body is left as it was.
 */
export function decodeBody(response: ProxiedResponse): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  const header = response.headers['content-encoding'];
  const body = response.body;
  if (header === undefined || !body) return { ok: true };
  const codings = (Array.isArray(header) ? header.join(',') : header).split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  let out = body;
  for (const coding of codings.reverse()) {
    const decode = DECODERS[coding];
    if (!decode) return { ok: false, reason: `content-encoding ${coding}` };
    try {
      out = decode(out, { maxOutputLength: MAX_DECODED_BYTES });
    } catch {
      return { ok: false, reason: `content-encoding ${coding}: corrupt or over ${MAX_DECODED_BYTES} bytes decoded` };
    }
  }
  response.body = out;
  delete response.headers['content-encoding'];
  return { ok: true };
}

/** Replaces the response body with `value` serialised as JSON (content-length is set by the proxy; ETag dropped). */
export function replaceJsonBody(response: ProxiedResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  response.body = body;
  parsed.set(response, { body, value });
  delete response.headers['etag'];
  delete response.headers['content-md5'];
}
