import { GatewayError } from '../../problem.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import { mediaTypeOf } from '../limits/index.ts';
import { parseJsonSafely } from './json.ts';

/** Limits that apply while parsing a body (from `apis[].validation`). */
export interface BodyParseLimits {
  readonly maxBodyBytes: number;
  readonly maxDepth: number;
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
}

/** Whether a media type is JSON (`application/json` or any `+json` suffix). */
export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

const cache = new WeakMap<RequestContext, Promise<ParsedBody | undefined>>();

/**
 * Buffers (up to `maxBodyBytes`, else 413) and parses the request body once per request; the authorize stage
 * (rules over `request.body`) and the validate stage share the result. JSON goes through {@link parseJsonSafely};
 * `application/x-www-form-urlencoded` through URLSearchParams; `multipart/form-data` through undici's FormData
 * parser, with part count and size caps. Resolves undefined when the request has no body. Rejects with a 400
 * `validation_failed` GatewayError (field errors without input values) when the body cannot be parsed.
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
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    } catch {
      throw invalid('must be UTF-8 encoded', 'body is not valid UTF-8');
    }
    const result = parseJsonSafely(text, { maxDepth: limits.maxDepth, rejectDuplicates: limits.rejectDuplicateKeys, pointerBase: 'body' });
    if (!result.ok) throw new GatewayError('validation_failed', result.reason, { errors: [result.error] });
    return { mediaType, kind: 'json', value: result.value };
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    return { mediaType, kind: 'form', value: group(new URLSearchParams(buffer.toString('utf8')).entries(), limits) };
  }
  if (mediaType === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Response(buffer, { headers: { 'content-type': String(contentType) } }).formData();
    } catch {
      throw invalid('must be a well-formed multipart/form-data body', 'malformed multipart body');
    }
    const entries: [string, string][] = [];
    for (const [name, value] of form.entries()) {
      if (entries.length >= limits.maxParts) throw invalid(`must not have more than ${limits.maxParts} parts`, 'too many multipart parts');
      const size = typeof value === 'string' ? Buffer.byteLength(value) : value.size;
      if (size > limits.maxPartBytes) throw new GatewayError('payload_too_large', `multipart part over ${limits.maxPartBytes} bytes`);
      // File contents are not validated as text: the schema sees an empty string (`format: binary`).
      entries.push([name, typeof value === 'string' ? value : '']);
    }
    return { mediaType, kind: 'form', value: group(entries, limits) };
  }
  return { mediaType, kind: 'raw', value: undefined };
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
