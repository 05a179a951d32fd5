import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** An upgrade request as the upstream received it. */
export interface Handshake {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

export interface EchoUpstream {
  readonly url: string;
  /** Every upgrade request received, in order. */
  readonly handshakes: Handshake[];
  close(): Promise<void>;
}

/**
 * A WebSocket echo upstream on loopback: echoes every message, accepts the `chat.v1` subprotocol, answers the upgrade
 * of any `/refused…` path with 404, and plain HTTP requests with 200 `{}`.
 */
export async function startEcho(): Promise<EchoUpstream> {
  const handshakes: Handshake[] = [];
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('chat.v1') ? 'chat.v1' : false) });
  server.on('upgrade', (req, socket, head) => {
    handshakes.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    if (req.url?.startsWith('/refused')) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handshakes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
