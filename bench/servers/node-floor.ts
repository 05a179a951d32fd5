import { createServer } from 'node:http';
import { Pool } from 'undici';

/**
 * The Node floor: the least a Node proxy can do. node:http in, an undici keep-alive Pool out, no policies, no
 * header hygiene beyond dropping hop-by-hop headers. Usage: node bench/servers/node-floor.ts <port> <upstream-url>
 */
const port = Number(process.argv[2] ?? 0);
const upstream = process.argv[3] ?? 'http://127.0.0.1:3000';
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers: Record<string, string | string[]> = {};
  for (const name in req.headers) if (!HOP.has(name)) headers[name] = req.headers[name]!;
  pool
    .request({ path: req.url ?? '/', method: req.method as 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
    .then((up) => {
      const out: Record<string, string | string[]> = {};
      for (const name in up.headers) if (!HOP.has(name)) out[name] = up.headers[name]!;
      res.writeHead(up.statusCode, out);
      up.body.pipe(res);
    })
    .catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
});
server.listen(port, '127.0.0.1', () => process.stdout.write('READY\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
