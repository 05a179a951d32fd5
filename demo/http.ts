/**
 * Small HTTP helpers shared by the demo API and the demo IdP (node:http only).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body the demo processes will buffer: 16 MiB (a sanity cap for the demo process itself). */
export const MAX_DEMO_BODY_BYTES = 16 * 1024 * 1024;

/** An error carrying an HTTP status and a JSON body to answer with. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;

  constructor(status: number, body: Record<string, unknown>) {
    super(typeof body['error'] === 'string' ? body['error'] : `HTTP ${status}`);
    this.name = 'HttpError';
    this.status = status;
    this.body = body;
  }
}

/**
 * Reads the whole request body as UTF-8 text.
 * @throws {HttpError} 413 when the body exceeds {@link MAX_DEMO_BODY_BYTES}.
 */
export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_DEMO_BODY_BYTES) throw new HttpError(413, { error: 'request body too large' });
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends `body` as JSON with an exact Content-Length. Extra headers are added as given. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(payload.length),
  });
  res.end(payload);
}

/** Sends an empty response (e.g. 204). */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** True when the socket's peer address is a loopback address (IPv4, IPv6 or IPv4-mapped IPv6). */
export function isLoopback(req: IncomingMessage): boolean {
  const addr = req.socket.remoteAddress ?? '';
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

/** The base URL (`http://host:port`) a listening server answers on; IPv6 hosts are bracketed. */
export function baseUrl(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** Runs a demo server's `main` as a script: stops it on SIGINT/SIGTERM, exits 1 on a start-up error. */
export function runAsScript(main: () => Promise<{ close(): Promise<void> }>): void {
  main().then(
    (server) => {
      const stop = (): void => {
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
