import { MIMEType } from 'node:util';
import { GatewayError } from '../../problem.ts';
import type { RequestContext } from '../../pipeline/types.ts';
import { isJsonMediaType, mediaTypeOf } from '../../http/media.ts';
import { parseJsonSafely } from './json.ts';

/** Limits that apply while parsing a body (from `apis[].validation`). */
export interface BodyParseLimits {
  readonly maxBodyBytes: number;
  readonly maxDepth: number;
  readonly maxObjectKeys: number;
  readonly maxTokens: number;
  readonly maxPartBytes: number;
  readonly maxParts: number;
  readonly rejectDuplicateKeys: boolean;
}

export interface ParsedBody {
  /** Lower-case media type without parameters. */
  readonly mediaType: string;
  /** `json` bodies are parsed values; `form` bodies are field → string | string[] maps; `raw` bodies are not parsed. */
  readonly kind: 'json' | 'form' | 'raw';
  readonly value: unknown;
  /** File names of multipart file parts (field name, file name), for the WAF; never the file contents. */
  readonly fileNames?: readonly (readonly [string, string])[];
}


const cache = new WeakMap<RequestContext, Promise<ParsedBody | undefined>>();

/**
 * Buffers (up to `maxBodyBytes`, else 413) and parses the request body once per request: every stage that reads
 * the body (brute-force account, authorize rules over `request.body`, validate) gets this one parsed value, so no
 * two stages can read the same bytes differently. The first caller's `limits` apply (every caller derives them
 * from the same `apis[].validation`). JSON goes through {@link parseJsonSafely};
 * `application/x-www-form-urlencoded` through URLSearchParams; `multipart/form-data` through undici's FormData
 * parser, with part count and size caps. JSON and form bodies must be UTF-8 without a byte order mark, and their
 * `Content-Type` may name no charset but UTF-8: what parsers could read differently is refused, not guessed.
 * Resolves undefined when the request has no body. Rejects with a 400 `validation_failed` (or 413
 * `payload_too_large`) GatewayError, field errors without input values, when the body cannot be parsed.
 */
export function parsedBody(ctx: RequestContext, limits: BodyParseLimits): Promise<ParsedBody | undefined> {
  let pending = cache.get(ctx);
  if (!pending) {
    pending = parse(ctx, limits);
    cache.set(ctx, pending);
  }
  return pending;
}

function invalid(message: string, reason: string): GatewayError {
  return new GatewayError('validation_failed', reason, { errors: [{ pointer: 'body', message }] });
}

async function parse(ctx: RequestContext, limits: BodyParseLimits): Promise<ParsedBody | undefined> {
  if (!ctx.hasBody) return undefined;
  const contentType = ctx.headers['content-type'];
  const mediaType = mediaTypeOf(contentType) ?? '';
  const buffer = await ctx.readBody(limits.maxBodyBytes);
  if (buffer.length === 0) return undefined;
  if (isJsonMediaType(mediaType)) {
    const text = utf8Text(buffer, String(contentType), mediaType);
    const result = parseJsonSafely(text, {
      maxDepth: limits.maxDepth,
      maxObjectKeys: limits.maxObjectKeys,
      maxTokens: limits.maxTokens,
      rejectDuplicates: limits.rejectDuplicateKeys,
      pointerBase: 'body',
    });
    if (!result.ok) throw new GatewayError(result.code, result.reason, { errors: [result.error] });
    return { mediaType, kind: 'json', value: result.value };
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    const text = utf8Text(buffer, String(contentType), mediaType);
    checkPercentEncoding(text);
    return { mediaType, kind: 'form', value: group(new URLSearchParams(text).entries(), limits) };
  }
  if (mediaType === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Response(buffer, { headers: { 'content-type': String(contentType) } }).formData();
    } catch {
      throw invalid('must be a well-formed multipart/form-data body', 'malformed multipart body');
    }
    const entries: [string, string][] = [];
    const fileNames: [string, string][] = [];
    for (const [name, value] of form.entries()) {
      if (entries.length >= limits.maxParts) throw invalid(`must not have more than ${limits.maxParts} parts`, 'too many multipart parts');
      const size = typeof value === 'string' ? Buffer.byteLength(value) : value.size;
      if (size > limits.maxPartBytes) throw new GatewayError('payload_too_large', `multipart part over ${limits.maxPartBytes} bytes`);
      // File contents are not validated as text: the schema sees an empty string (`format: binary`).
      entries.push([name, typeof value === 'string' ? value : '']);
      if (typeof value !== 'string' && value.name) fileNames.push([name, value.name]);
    }
    return { mediaType, kind: 'form', value: group(entries, limits), fileNames };
  }
  return { mediaType, kind: 'raw', value: undefined };
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const CHARSET_PARAM = /;\s*charset\s*=/gi;

/**
 * The body as text, refusing what two parsers could decode differently: a `Content-Type` the platform's MIME parser
 * reads another way, a charset other than UTF-8 (or named twice), a byte order mark (TextDecoder and many upstreams
 * drop it, JSON.parse and `Buffer#toString` keep it), or bytes that are not UTF-8.
 */
function utf8Text(buffer: Buffer, contentType: string, mediaType: string): string {
  let charset: string | null;
  try {
    const parsed = new MIMEType(contentType);
    if (parsed.essence !== mediaType) throw new Error('media type read two ways');
    charset = parsed.params.get('charset');
  } catch {
    throw invalid('must declare a well-formed media type', 'Content-Type the MIME parser reads differently');
  }
  if ((contentType.match(CHARSET_PARAM)?.length ?? 0) > 1) throw invalid('must be UTF-8 encoded', 'charset parameter repeated');
  if (charset !== null && !['utf-8', 'utf8'].includes(charset.toLowerCase())) throw invalid('must be UTF-8 encoded', 'charset other than UTF-8');
  if (buffer.subarray(0, 3).equals(UTF8_BOM)) throw invalid('must be UTF-8 encoded without a byte order mark', 'body starts with a byte order mark');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buffer);
  } catch {
    throw invalid('must be UTF-8 encoded', 'body is not valid UTF-8');
  }
}

/**
 * URLSearchParams keeps a stray `%` and turns bad UTF-8 escapes into U+FFFD where other decoders fail or read
 * Latin-1; a form whose escapes the strict platform decoder refuses is refused.
 */
function checkPercentEncoding(text: string): void {
  if (!text.includes('%')) return;
  for (const pair of text.split('&')) {
    if (!pair.includes('%')) continue;
    try {
      decodeURIComponent(pair.replaceAll('+', ' '));
    } catch {
      throw invalid('must be well-formed application/x-www-form-urlencoded', 'malformed percent-encoding in form body');
    }
  }
}

/** Field entries → object; repeated fields become lists; prototype-polluting names are refused. */
function group(entries: Iterable<[string, string]>, limits: BodyParseLimits): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let count = 0;
  for (const [name, value] of entries) {
    if (++count > limits.maxParts * 10) throw invalid('has too many fields', 'too many form fields');
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') {
      throw invalid('must not contain the keys __proto__, constructor or prototype', `forbidden form field ${name}`);
    }
    const prior = out[name];
    out[name] = prior === undefined ? value : ([] as string[]).concat(prior, value);
  }
  return out;
}
