import { ERRORS, problemBody, type ErrorCode, type ProblemFieldError } from '../problem.ts';

/** A serialised RFC 9457 answer: status, the headers every problem carries, and the body. */
export interface ProblemResponse {
  readonly status: number;
  readonly headers: Record<string, string | number>;
  readonly body: string;
}

/**
 * The one serialisation of a problem answer (gateway, listeners before a request exists, admin API): generic body
 * from the error registry, `application/problem+json`, exact length, the request id, `nosniff` and `no-store`,
 * plus `extra` headers (Allow, Retry-After, WWW-Authenticate). Nothing caller-supplied goes in but the request id.
 */
export function problemResponse(code: ErrorCode, requestId: string, options: { errors?: readonly ProblemFieldError[]; headers?: Readonly<Record<string, string>> } = {}): ProblemResponse {
  const body = JSON.stringify(problemBody(code, requestId, options.errors));
  return {
    status: ERRORS[code].status,
    headers: {
      'content-type': 'application/problem+json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      ...options.headers,
    },
    body,
  };
}

/** The same answer as raw HTTP/1.1 bytes, for a socket that has no response object yet (parser errors). */
export function rawProblem(code: ErrorCode, requestId: string): string {
  const { status, headers, body } = problemResponse(code, requestId);
  let head = `HTTP/1.1 ${status} ${ERRORS[code].title}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}connection: close\r\n\r\n${body}`;
}
