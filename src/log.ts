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
  let destination = options.destination;
  if (!destination) {
    const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    // The 4 KiB buffer saves a write per line under load; on a quiet gateway it must not hold lines (a start-up
    // warning, a deny) indefinitely: flush at least once a second.
    setInterval(() => stdout.flush(), 1000).unref();
    destination = stdout;
  }
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

const MAX_PENDING_LINES = 256;
const REDACTED_NAMES = new Set([...REDACTED_FIELDS, 'token', 'apikey', 'password', 'secret']);

let isoMs = 0;
let isoText = '';
/** `new Date().toISOString()`, computed once per millisecond (it costs ≈ 0.5 µs, a third of an access log line). */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}

/** Writes one already-built JSON line; what `createLineWriter` returns. */
export type LineWriter = (fields: Record<string, unknown>) => void;

/**
 * A writer of fixed-shape lines at level info, straight to the logger's destination (asynchronous, like every
 * line), in the same format pino writes: `{"level":"info","time":…,<bindings>,…fields,"msg":msg}`. For the access
 * log, one line per request: pino's generic serialisation and redaction walk were ~9% of the gateway's CPU in a
 * `--cpu-prof` of the passthrough benchmark, a single `JSON.stringify` of the flat fields is a fraction of it.
 * Fields must be flat, fixed and non-secret (no headers, tokens, raw paths); undefined fields are omitted, and a
 * field named like a secret (`authorization`, `token`, …) is written as `[redacted]` all the same.
 */
export function createLineWriter(logger: Logger, bindings: Record<string, unknown>, msg: string): LineWriter {
  const stream = (logger as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym];
  const chindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  if (stream === undefined) throw new Error('createLineWriter: not a pino logger');
  for (const name of Object.keys(bindings)) {
    if (REDACTED_NAMES.has(name.toLowerCase())) throw new Error(`createLineWriter: "${name}" is a redacted field`);
  }
  const bound = JSON.stringify(bindings).slice(1, -1);
  const head = `${chindings}${bound === '' ? '' : `,${bound}`}`;
  const tail = `,"msg":${JSON.stringify(msg)}}\n`;
  /** Field names already checked against the redacted names (the fields are fixed, so this stays small). */
  const safe = new Set<string>();
  // Lines of one event-loop turn go to the destination as one write: sonic-boom costs ~3 µs per write call,
  // more than building the line. A turn's lines are written at the latest when the turn ends (setImmediate).
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    stream.write(lines.length === 1 ? lines[0]! : lines.join(''));
  };
  return (fields) => {
    if (!logger.isLevelEnabled('info')) return;
    for (const name in fields) {
      if (safe.has(name)) continue;
      if (!REDACTED_NAMES.has(name.toLowerCase())) {
        if (safe.size < 256) safe.add(name);
      } else if (fields[name] !== undefined) fields = { ...fields, [name]: '[redacted]' };
    }
    const body = JSON.stringify(fields);
    pending.push(`{"level":"info","time":"${isoNow()}"${head}${body.length > 2 ? `,${body.slice(1, -1)}` : ''}${tail}`);
    if (pending.length === 1) setImmediate(flush);
    else if (pending.length >= MAX_PENDING_LINES) flush();
  };
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
