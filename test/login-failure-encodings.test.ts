/**
 * Login failure conditions when the client chooses how the upstream encodes its answer (Accept-Encoding, Accept):
 * the body rules judge the decoded body, and a body they cannot judge counts as a failure (found by a red-team
 * review: gzip made every failed login look like a success).
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { APP_SPEC } from './helpers/app-upstream.ts';

const USERS: Record<string, string> = { alice: 'correct horse battery staple' };

/**
 * A login app as commonly deployed: failures are `200 {"message": …}`, a different message for unknown users, and
 * the response is gzip-compressed when the client accepts it (nginx `gzip on; gzip_types application/json`,
 * `gzip_min_length` 20) and rendered as XML when the client asks for it (content negotiation).
 */
let upstream: Server;
let upstreamUrl: string;
let loginsReached = 0;
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
before(async () => {
  upstream = createServer((req, res) => {
    void readBody(req).then((raw) => {
      loginsReached++;
      const body = JSON.parse(raw) as { username: string; password: string };
      const answer = !(body.username in USERS) ? { message: 'User not found' } : USERS[body.username] !== body.password ? { message: 'Password is not correct' } : { token: 'tok' };
      if (String(req.headers['accept']).includes('application/xml')) {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(`<r>${'message' in answer ? `<message>${answer.message}</message>` : '<token>tok</token>'}</r>`);
        return;
      }
      const json = Buffer.from(JSON.stringify(answer));
      if (String(req.headers['accept-encoding']).includes('gzip')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', vary: 'Accept-Encoding' });
        res.end(gzipSync(json));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

const FAILURE = { body: [{ pointer: '/message', matches: '^(Password is not correct|User not found)$' }] };

function config(login: Record<string, unknown>): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    upstreams: { shop: { url: upstreamUrl } },
    apis: [
      {
        name: 'shop',
        spec: './shop.yaml',
        upstream: 'shop',
        auth: { api_keys: true },
        response: { mode: 'off' },
        brute_force: { max_failures_ip_account: 3, max_failures_ip: 1000, max_failures_account: 1000, delay_after: 1000 },
        operations: { login: { login: { account_field: 'username', failure: FAILURE, ...login } } },
      },
    ],
  };
}

/** One login with raw headers; the body is returned as raw bytes (no automatic decompression). */
function login(gw: TestGateway, username: string, password: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/login', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ username, password }));
  });
}

/** The body as the client reads it: the gateway's leak check may already have decoded it (and dropped the header). */
function text(res: { headers: IncomingMessage['headers']; body: Buffer }): string {
  return (res.headers['content-encoding'] === 'gzip' ? gunzipSync(res.body) : res.body).toString('utf8');
}

async function withGateway(cfg: Record<string, unknown>, run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startGateway(cfg, { files: { 'shop.yaml': APP_SPEC } });
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

describe('the client picks an encoding the failure rules must still read', () => {
  test('baseline: without Accept-Encoding the pair is locked after 3 failures', async () => {
    await withGateway(config({}), async (gw) => {
      for (let i = 0; i < 3; i++) assert.equal((await login(gw, 'alice', `guess-${i}`)).status, 200);
      assert.equal((await login(gw, 'alice', 'guess-4')).status, 429);
    });
  });

  test('Accept-Encoding: gzip: the compressed failures are decoded and counted; the 4th guess is locked', async () => {
    await withGateway(config({}), async (gw) => {
      const before = loginsReached;
      for (let i = 0; i < 3; i++) {
        const res = await login(gw, 'alice', `guess-${i}`, { 'accept-encoding': 'gzip' });
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(text(res)).message, 'Password is not correct');
      }
      for (let i = 3; i < 12; i++) assert.equal((await login(gw, 'alice', `guess-${i}`, { 'accept-encoding': 'gzip' })).status, 429);
      assert.equal(loginsReached - before, 3, 'only 3 guesses reached the app');
      assert.equal((await login(gw, 'alice', USERS['alice']!, { 'accept-encoding': 'gzip' })).status, 429, 'the right password is locked out too');
    });
  });

  test('Accept: application/xml (content negotiation): a body the rules cannot judge counts as a failure', async () => {
    await withGateway(config({}), async (gw) => {
      for (let i = 0; i < 3; i++) assert.equal((await login(gw, 'alice', `xml-${i}`, { accept: 'application/xml' })).status, 200);
      assert.equal((await login(gw, 'alice', 'xml-4', { accept: 'application/xml' })).status, 429);
    });
  });

  test('with uniform_failures, gzip changes nothing: the same generic 401 after min_response_ms', async () => {
    await withGateway(config({ uniform_failures: true, min_response_ms: 400 }), async (gw) => {
      for (const user of ['ghost', 'alice']) {
        const started = performance.now();
        const res = await login(gw, user, 'x', { 'accept-encoding': 'gzip' });
        const elapsed = performance.now() - started;
        assert.equal(res.status, 401);
        assert.equal((JSON.parse(text(res)) as { type: string }).type, 'https://rampart.dev/problems/login_failed');
        assert.ok(elapsed >= 395, `answered after ${elapsed.toFixed(0)} ms`);
      }
    });
  });
});
