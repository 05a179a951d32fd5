import { createServer } from 'node:http';
import { ITEM } from '../lib/item.ts';

/**
 * The benchmark upstream: answers every request with the same ~200-byte JSON document (bench/lib/item.ts).
 * Usage: node bench/servers/upstream.ts <port>
 */
const BODY = Buffer.from(JSON.stringify(ITEM));
const CREATED = Buffer.from(JSON.stringify({ ...ITEM, id: '43' }));

const port = Number(process.argv[2] ?? 0);
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === 'POST') {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': CREATED.length });
      res.end(CREATED);
    });
    return;
  }
  // Tells the harness's probe that Rampart's identity assertion arrived (bench/lib/rampart.ts, feature identity).
  if (req.headers['x-rampart-identity'] !== undefined) res.setHeader('x-bench-saw-identity', '1');
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
  res.end(BODY);
});
server.listen(port, '127.0.0.1', () => process.stdout.write('READY\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
