import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BudgetExhausted, createScanClient, MAX_RESPONSE_BYTES } from './client.ts';

let server: Server;
let target: URL;
const paths: string[] = [];
before(async () => {
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/big') return void res.end('x'.repeat(MAX_RESPONSE_BYTES * 2));
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 2000);
    if (req.url === '/redirect') return void res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
    res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }).end(`${req.method} ${req.headers.host}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});
after(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

test('paths are sent exactly as given, to the target only; redirects are not followed', async () => {
  const client = createScanClient({ target, rps: 1000 });
  const res = await client.send({ method: 'GET', path: '/orders/%2e%2e/admin' });
  assert.equal(res.body, `GET ${target.host}`);
  assert.equal(paths.at(-1), '/orders/%2e%2e/admin');
  assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal((await client.send({ method: 'GET', path: '/redirect' })).status, 302);
  assert.notEqual(paths.at(-1), '/elsewhere');
  assert.equal(client.urlOf('/x?y=1'), `${target.origin}/x?y=1`);
  await client.close();
});

test('requests are paced to --rps', async () => {
  const client = createScanClient({ target, rps: 20 });
  const started = performance.now();
  for (let i = 0; i < 5; i++) await client.send({ method: 'GET', path: '/' });
  assert.ok(performance.now() - started >= 190, `5 requests at 20/s took ${performance.now() - started} ms`);
  await client.close();
});

test('the total is capped: the request after the last allowed one is refused before it is sent', async () => {
  const client = createScanClient({ target, rps: 1000, maxRequests: 3 });
  const before = paths.length;
  for (let i = 0; i < 3; i++) await client.send({ method: 'GET', path: '/' });
  await assert.rejects(client.send({ method: 'GET', path: '/' }), BudgetExhausted);
  assert.equal(paths.length - before, 3);
  assert.equal(client.sent, 3);
  await client.close();
});

test('bodies are cut at MAX_RESPONSE_BYTES and slow answers time out', async () => {
  const client = createScanClient({ target, rps: 1000, timeoutMs: 300 });
  assert.equal((await client.send({ method: 'GET', path: '/big' })).body.length, MAX_RESPONSE_BYTES);
  const started = performance.now();
  await assert.rejects(client.send({ method: 'GET', path: '/slow' }));
  assert.ok(performance.now() - started < 1500);
  await client.close();
});

test('options are checked', () => {
  assert.throws(() => createScanClient({ target, rps: 0 }), /rps/);
  assert.throws(() => createScanClient({ target, maxRequests: 1.5 }), /maxRequests/);
});

test('a self-signed HTTPS target is refused unless insecureTls is set', async () => {
  const { createServer: createHttps } = await import('node:https');
  const { createSelfSignedCertificate } = await import('../server/certificates.ts');
  const pair = await createSelfSignedCertificate();
  const tls = createHttps({ cert: pair.cert, key: pair.key }, (_req, res) => res.end('secure'));
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  const url = new URL(`https://127.0.0.1:${(tls.address() as AddressInfo).port}/`);
  try {
    const strict = createScanClient({ target: url, rps: 1000 });
    await assert.rejects(strict.send({ method: 'GET', path: '/' }));
    await strict.close();
    const insecure = createScanClient({ target: url, rps: 1000, insecureTls: true });
    assert.equal((await insecure.send({ method: 'GET', path: '/' })).body, 'secure');
    await insecure.close();
  } finally {
    tls.closeAllConnections();
    await new Promise<void>((resolve) => tls.close(() => resolve()));
  }
});
