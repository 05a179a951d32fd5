import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import { GatewayError, problemBody, toGatewayError } from '../problem.ts';

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => void | Promise<void>;

interface AdminRoute {
  readonly method: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: AdminHandler;
}

/**
 * The admin listener (control plane): health and readiness here; the admin API, metrics and the dashboard
 * register their routes. Loopback by default. Errors answer problem+json like the data plane.
 */
export class AdminServer {
  readonly server: Server;
  readonly #routes: AdminRoute[] = [];
  readonly #logger: Logger;
  ready = false;

  constructor(logger: Logger) {
    this.#logger = logger;
    this.server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => void this.#handle(req, res));
    this.route('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.route('GET', '/readyz', (_req, res) => sendJson(res, this.ready ? 200 : 503, { status: this.ready ? 'ready' : 'not ready' }));
  }

  /** Registers a route; `path` may hold `:name` segments. */
  route(method: string, path: string, handler: AdminHandler): void {
    const names: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    });
    this.#routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = randomUUID();
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      let pathMatched = false;
      for (const route of this.#routes) {
        const match = route.pattern.exec(path);
        if (!match) continue;
        pathMatched = true;
        if (route.method !== req.method) continue;
        const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
        await route.handler(req, res, params);
        return;
      }
      throw new GatewayError(pathMatched ? 'method_not_allowed' : 'not_found');
    } catch (thrown) {
      const error = toGatewayError(thrown);
      if (error.code === 'internal') this.#logger.error({ requestId: id, err: errorForLog(thrown) }, 'admin request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = JSON.stringify(problemBody(error.code, id, error.errors));
      res.writeHead(error.status, { 'content-type': 'application/problem+json', 'x-request-id': id, 'cache-control': 'no-store', ...error.headers });
      res.end(body);
    }
  }
}

/** Writes a JSON response with no-store caching. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}
