import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request the upstream received, in order. */
  readonly seen: SeenRequest[];
  /** Replace the default echo behaviour for the next requests. */
  handler: ((req: IncomingMessage, res: ServerResponse, body: string) => void) | undefined;
  close(): Promise<void>;
}

/**
 * A real upstream on an ephemeral loopback port. By default it echoes the request as JSON with banner headers, so
 * tests can assert what reached it and that banners are removed on the way back.
 */
export async function startUpstream(): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const upstream: Partial<TestUpstream> & { handler: TestUpstream['handler'] } = { seen, handler: undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (upstream.handler) {
        upstream.handler(req, res, body);
        return;
      }
      const payload = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, {
        'content-type': 'application/json',
        server: 'nginx/1.2.3 (Ubuntu)',
        'x-powered-by': 'Express',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'must-not-pass',
      });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as TestUpstream;
}
