/**
 * The one registry of error codes Rampart answers with. Each code maps to a stable problem `type` URI, an HTTP
 * status and a generic title (RFC 9457). Clients only ever see these fields plus the request id; the detail that
 * explains a deny goes to the log and the audit trail, never to the client.
 */
export const PROBLEM_TYPE_BASE = 'https://rampart.dev/problems/';

export const ERRORS = {
  bad_request: { status: 400, title: 'Bad request' },
  invalid_path: { status: 400, title: 'Invalid request path' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  digest_required: { status: 400, title: 'Content digest required' },
  digest_invalid: { status: 400, title: 'Content digest does not match' },
  unauthorized: { status: 401, title: 'Authentication required' },
  invalid_token: { status: 401, title: 'Invalid credentials' },
  login_failed: { status: 401, title: 'Login failed' },
  insufficient_user_authentication: { status: 401, title: 'Stronger authentication required' },
  use_dpop_nonce: { status: 401, title: 'DPoP nonce required' },
  forbidden: { status: 403, title: 'Forbidden' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  ip_blocked: { status: 403, title: 'Forbidden' },
  cors_rejected: { status: 403, title: 'Cross-origin request not allowed' },
  csrf_failed: { status: 403, title: 'Forbidden' },
  injection_detected: { status: 403, title: 'Request blocked' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  misdirected_request: { status: 421, title: 'Misdirected request' },
  request_timeout: { status: 408, title: 'Request timeout' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  too_many_concurrent: { status: 429, title: 'Too many concurrent requests' },
  account_locked: { status: 429, title: 'Too many failed attempts' },
  auth_backoff: { status: 429, title: 'Too many failed attempts' },
  headers_too_large: { status: 431, title: 'Request header fields too large' },
  internal: { status: 500, title: 'Internal error' },
  upstream_unavailable: { status: 503, title: 'Service unavailable' },
  upstream_invalid_response: { status: 502, title: 'Bad gateway' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  read_only: { status: 503, title: 'Service unavailable' },
  upstream_timeout: { status: 504, title: 'Gateway timeout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An error that denies a request. `detail` and `cause` are for the log only; they never reach the client.
 * `headers` are added to the problem response (e.g. `Allow`, `Retry-After`, `WWW-Authenticate`).
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Field-level validation errors safe to show the client (no echoed values). */
  readonly errors: readonly ProblemFieldError[] | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { cause?: unknown; headers?: Record<string, string>; errors?: ProblemFieldError[] },
  ) {
    super(detail ?? code, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = options?.headers;
    this.errors = options?.errors;
  }
}

export interface ProblemFieldError {
  /** Where the problem is, e.g. `body/quantity` or `query/limit`. */
  readonly pointer: string;
  /** What is wrong, phrased generically (never echoes the value). */
  readonly message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  requestId: string;
  errors?: readonly ProblemFieldError[];
}

/** Builds the RFC 9457 body for a code. Nothing caller-supplied goes in except the request id and safe field errors. */
export function problemBody(code: ErrorCode, requestId: string, errors?: readonly ProblemFieldError[]): ProblemBody {
  const entry = ERRORS[code];
  const body: ProblemBody = { type: PROBLEM_TYPE_BASE + code, title: entry.title, status: entry.status, requestId };
  if (errors && errors.length > 0) body.errors = errors;
  return body;
}

/** Normalises anything thrown inside the gateway into a GatewayError: unknown errors become `internal`. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('internal', 'unhandled exception in gateway', { cause: error });
}
