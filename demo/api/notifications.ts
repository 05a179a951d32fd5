/**
 * The demo API's live channel, `GET /ws/notifications` upgraded to a WebSocket: it greets the caller by the
 * (unverified, decoded) token's subject and echoes what it is sent. Deliberately naive: any origin, any size, any
 * rate, no check that the token still holds. Rampart adds those in front of it.
 */
import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { callerId } from './caller.ts';

/** Serves the channel on `server`; the returned function drops its open sockets (the server's close waits for them). */
export function attachNotifications(server: Server): () => void {
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (!(req.url ?? '').startsWith('/ws/notifications')) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const user = callerId(req) ?? 'anonymous';
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ type: 'hello', user }));
      ws.on('message', (data) => ws.send(JSON.stringify({ type: 'echo', user, text: data.toString('utf8') })));
    });
  });
  return () => {
    for (const client of wss.clients) client.terminate();
  };
}
