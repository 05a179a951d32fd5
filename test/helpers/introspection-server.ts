/**
 * A local RFC 7662 introspection endpoint for tests: checks HTTP Basic client authentication, answers from a
 * token table, counts calls, and can be taken down (503) or made slow.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IntrospectionServer {
  readonly url: string;
  /** Token → introspection answer. Unknown tokens answer `{ active: false }`. */
  readonly tokens: Map<string, Record<string, unknown>>;
  readonly calls: () => number;
  down: boolean;
  /** Delay before answering, in ms. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startIntrospectionServer(clientId: string, clientSecret: string): Promise<IntrospectionServer> {
  const tokens = new Map<string, Record<string, unknown>>();
  let calls = 0;
  const state = { down: false, delayMs: 0 };
  // RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined with ':' and Base64-encoded.
  const clientOk = (header: string | undefined): boolean => {
    if (!header?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon > 0 && decodeURIComponent(decoded.slice(0, colon)) === clientId && decodeURIComponent(decoded.slice(colon + 1)) === clientSecret;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls++;
      const answer = (status: number, body: unknown) => {
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        }, state.delayMs);
      };
      if (state.down) return answer(503, { error: 'down' });
      if (req.method !== 'POST' || !clientOk(req.headers.authorization)) return answer(401, { error: 'invalid_client' });
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      answer(200, tokens.get(form.get('token') ?? '') ?? { active: false });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/introspect`,
    tokens,
    calls: () => calls,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v: number) {
      state.delayMs = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
