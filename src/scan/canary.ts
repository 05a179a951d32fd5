/**
 * The SSRF canary: an HTTP listener the scanner starts on 127.0.0.1 (ephemeral port). A probe puts a URL with a
 * fresh token into a URL-typed parameter; a request for that token reaching the canary proves the target fetched it.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Canary {
  /** A fresh URL on the canary (`http://127.0.0.1:port/rampart-canary/<token>`) and its token. */
  url(): { url: string; token: string };
  /** Resolves true when the token was requested within `timeoutMs`, false otherwise. */
  waitFor(token: string, timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Starts the canary listener on loopback. */
export async function startCanary(): Promise<Canary> {
  const hits = new Set<string>();
  const waiters = new Map<string, () => void>();
  const server = createServer((req, res) => {
    const token = /^\/rampart-canary\/([a-f0-9]{16,64})/.exec(req.url ?? '')?.[1];
    if (token) {
      hits.add(token);
      waiters.get(token)?.();
    }
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url() {
      const token = randomBytes(12).toString('hex');
      return { url: `http://127.0.0.1:${port}/rampart-canary/${token}`, token };
    },
    waitFor(token, timeoutMs) {
      if (hits.has(token)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(token);
          resolve(false);
        }, timeoutMs);
        waiters.set(token, () => {
          clearTimeout(timer);
          waiters.delete(token);
          resolve(true);
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
