/**
 * A TCP proxy on loopback between the gateway and a shared server (Redis), able to stall forwarding in both
 * directions for a while: how tests inject a slow Redis without touching the Redis everyone else uses. Bytes
 * received during a stall are held, in order, and forwarded when it ends (like a network hiccup: nothing lost).
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** Loopback port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Holds all forwarding for `ms`; resolves when forwarding has resumed. Overlapping stalls extend it. */
  stall(ms: number): Promise<void>;
  /** Whether forwarding is stalled now. */
  readonly stalled: boolean;
  close(): Promise<void>;
}

/** Starts a proxy on an ephemeral loopback port forwarding to `target` (a loopback host and port). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  if (target.host !== '127.0.0.1' && target.host !== '::1' && target.host !== 'localhost') throw new Error('tcp proxy targets loopback only');
  const sockets = new Set<Socket>();
  let stalledUntil = 0;
  const held: (() => void)[] = [];
  let resumeTimer: NodeJS.Timeout | undefined;

  const flush = () => {
    resumeTimer = undefined;
    const now = Date.now();
    if (now < stalledUntil) {
      resumeTimer = setTimeout(flush, stalledUntil - now);
      return;
    }
    for (const send of held.splice(0)) send();
  };
  const forward = (to: Socket) => (chunk: Buffer) => {
    if (Date.now() < stalledUntil || held.length > 0) held.push(() => void (to.destroyed || to.write(chunk)));
    else to.write(chunk);
  };

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get stalled() {
      return Date.now() < stalledUntil;
    },
    stall(ms: number): Promise<void> {
      stalledUntil = Math.max(stalledUntil, Date.now() + ms);
      if (resumeTimer) clearTimeout(resumeTimer);
      resumeTimer = setTimeout(flush, stalledUntil - Date.now());
      return new Promise((resolve) => setTimeout(resolve, stalledUntil - Date.now() + 1));
    },
    async close(): Promise<void> {
      if (resumeTimer) clearTimeout(resumeTimer);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
