import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Header and field names whose values never reach a log line. */
export const REDACTED_FIELDS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-rampart-identity'];

const REDACT_PATHS = [
  ...REDACTED_FIELDS.flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`, `res.headers["${h}"]`]),
  'token',
  'apiKey',
  'password',
  'secret',
  '*.token',
  '*.apiKey',
  '*.password',
  '*.secret',
];

/**
 * The process logger: JSON lines, secrets redacted by path as a second line of defence (callers never pass raw
 * headers or tokens in the first place). Writes asynchronously to stdout unless a destination is given (tests
 * capture lines through one).
 */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'rampart' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Top-level redaction only, for loggers whose lines are flat objects of fixed fields. */
const FLAT_REDACT_PATHS = [...REDACTED_FIELDS.map((h) => `["${h}"]`), 'token', 'apiKey', 'password', 'secret'];

/**
 * A child logger for lines that are flat objects of fixed, non-secret fields (the access log, one line per
 * request). It redacts the same names at the top level only: pino's wildcard paths (`*.token`) walk every line
 * and cost ~9 µs each, the largest single item of the access log in a `--cpu-prof` of the passthrough benchmark.
 * Do not pass nested objects or raw headers to it.
 */
export function createFlatChild(logger: Logger, bindings: Record<string, unknown>): Logger {
  return logger.child(bindings, { redact: { paths: FLAT_REDACT_PATHS, censor: '[redacted]' } });
}

/** Describes an error for a log line without its message when that message could carry request data. */
export function errorForLog(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const out: Record<string, unknown> = { type: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) out['code'] = code;
  if (error.stack) out['stack'] = error.stack.split('\n').slice(0, 8).join('\n');
  if (error.cause !== undefined) out['cause'] = errorForLog(error.cause);
  return out;
}
