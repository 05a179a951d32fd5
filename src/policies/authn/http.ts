import { isLoopbackHost } from '../../http/hosts.ts';
/**
 * Outbound HTTP for authentication (discovery, JWKS, introspection): every call has a timeout, never follows
 * redirects, and reads at most a bounded body.
 */

/** A fetch-compatible function; injectable for tests. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Largest response body read from an identity provider: 1 MiB. */
export const MAX_IDP_RESPONSE_BYTES = 1024 * 1024;

export interface JsonRequest {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Timeout for the whole exchange, in milliseconds. */
  readonly timeoutMs: number;
  readonly fetch?: FetchLike;
}

/** Raised for any failed call to an identity provider; the message names the URL origin, never credentials. */
export class IdpFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdpFetchError';
  }
}

/**
 * Calls `url` and parses a JSON object answer. Throws IdpFetchError on timeout, redirect, non-200 status, a body
 * over 1 MiB, or anything that is not a JSON object.
 */
export async function fetchJson(url: string, request: JsonRequest): Promise<Record<string, unknown>> {
  const origin = safeOrigin(url);
  const doFetch = request.fetch ?? fetch;
  let response: Response;
  const signal = AbortSignal.timeout(request.timeoutMs);
  try {
    response = await doFetch(url, {
      method: request.method ?? 'GET',
      headers: { accept: 'application/json', ...request.headers },
      body: request.body,
      redirect: 'error',
      signal,
    });
  } catch (error) {
    throw new IdpFetchError(`request to ${origin} failed: ${(error as Error).name}`, { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new IdpFetchError(`${origin} answered ${response.status}`);
  }
  let text: string;
  try {
    text = await readLimited(response, MAX_IDP_RESPONSE_BYTES);
  } catch (error) {
    throw new IdpFetchError(`reading the answer of ${origin} failed: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new IdpFetchError(`${origin} answered invalid JSON`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new IdpFetchError(`${origin} answered JSON that is not an object`);
  return parsed as Record<string, unknown>;
}

async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) throw new Error(`body over ${limit} bytes`);
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`body over ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

/** Whether an identity-provider URL is acceptable: HTTPS, or plain HTTP to a loopback host (development). */
export function isAllowedIdpUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username !== '' || parsed.password !== '') return false;
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname);
}
