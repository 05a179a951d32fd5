/**
 * Issue 11 finding 4: brute-force failures must be reserved before forwarding, so parallel login guesses never
 * pass a limit. Real gateway (TLS, so HTTP/2 is on) in front of a real upstream whose login answers a slow 401,
 * with memory and Redis counters; guesses sent over separate HTTP/1.1 connections and as HTTP/2 streams on one
 * session. Asserts how many guesses the upstream saw, the problem bodies, and that the admin /readyz still answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as h2connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { send } from '../helpers/gateway-fixtures.ts';
import { LOGIN_SPEC } from '../helpers/login-spec.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const LIMITS = { max_failures_ip_account: 5, max_failures_ip: 1000, max_failures_account: 12 };

interface Answer {
  readonly status: number;
  readonly type: unknown;
}

function h1Login(gw: TestGateway, ip: string, username: string): Promise<Answer> {
  return send(gw.url, '/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ username, password: randomBytes(6).toString('hex') }),
  }).then((r) => ({ status: r.status, type: r.headers['content-type'] === 'application/problem+json' ? r.json()['type'] : undefined }));
}

/** `count` login streams opened at once on one HTTP/2 session. */
async function h2Logins(gw: TestGateway, ip: string, username: string, count: number): Promise<Answer[]> {
  const session = h2connect(gw.url, { rejectUnauthorized: false });
  session.on('error', () => undefined);
  try {
    return await Promise.all(
      Array.from({ length: count }, () =>
        new Promise<Answer>((resolve, reject) => {
          const stream = session.request({ ':method': 'POST', ':path': '/login', 'content-type': 'application/json', 'x-forwarded-for': ip });
          let status = 0;
          const chunks: Buffer[] = [];
          stream.on('response', (h) => (status = Number(h[':status'])));
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status, type: status === 429 ? (JSON.parse(text) as Record<string, unknown>)['type'] : undefined });
          });
          stream.on('error', reject);
          stream.setTimeout(10_000, () => stream.close());
          stream.end(JSON.stringify({ username, password: randomBytes(6).toString('hex') }));
        }),
      ),
    );
  } finally {
    session.close();
  }
}

function suite(backend: 'memory' | 'redis'): void {
  describe(`parallel login guesses never pass the brute-force limits (${backend} counters)`, () => {
    let up: TestUpstream;
    let gw: TestGateway;
    const prefix = `rampart_test_races_${randomBytes(6).toString('hex')}:`;
    before(async () => {
      up = await startUpstream();
      // A slow 401: every guess is in flight at once, the window the race needs.
      up.handler = (_req, res) => setTimeout(() => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad credentials"}'), 150);
      gw = await startGateway(
        {
          trusted_proxies: ['127.0.0.1'],
          ...(backend === 'redis' ? { counters: { kind: 'redis', url: REDIS_URL, prefix, timeout_ms: 500 } } : {}),
          upstreams: { app: { url: up.url } },
          apis: [
            {
              name: 'app',
              spec: './login.yaml',
              upstream: 'app',
              validation: { additional_properties: 'allow' },
              response: { mode: 'off' },
              brute_force: { ...LIMITS, delay_after: 1000, ...(backend === 'redis' ? { account_key: '${env:BF_ACCOUNT_KEY}' } : {}) },
            },
          ],
        },
        { tls: true, files: { 'login.yaml': LOGIN_SPEC }, env: { ...process.env, BF_ACCOUNT_KEY: randomBytes(24).toString('hex') } },
      );
    });
    after(async () => {
      await gw?.close();
      await up?.close();
      if (backend === 'redis') {
        const redis = new Redis(REDIS_URL);
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
    });

    const seenFor = (username: string) => up.seen.filter((r) => r.body.includes(`"${username}"`)).length;

    it('10 concurrent HTTP/1.1 connections from one IP: the upstream sees 5 guesses, the rest are 429 account_locked', async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, () => h1Login(gw, '203.0.113.10', 'alice')));
      assert.equal(seenFor('alice'), 5, 'at most max_failures_ip_account guesses reached the login');
      assert.equal(answers.filter((a) => a.status === 401).length, 5);
      const locked = answers.filter((a) => a.status === 429);
      assert.equal(locked.length, 5);
      for (const a of locked) assert.equal(a.type, 'https://rampart.dev/problems/account_locked');
    });

    it('10 HTTP/2 streams on one session from one IP: the upstream sees 5 guesses', async () => {
      const answers = await h2Logins(gw, '203.0.113.11', 'bob', 10);
      assert.equal(seenFor('bob'), 5);
      assert.deepEqual(answers.map((a) => a.status).sort(), [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      assert.ok(answers.filter((a) => a.status === 429).every((a) => a.type === 'https://rampart.dev/problems/account_locked'));
    });

    it('6 IPs × 5 concurrent guesses on one account: the upstream sees the account limit (12), not 30', async () => {
      const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5', '198.51.100.6'];
      const answers = (
        await Promise.all(ips.map((ip, i) => (i % 2 === 0 ? h2Logins(gw, ip, 'carol', 5) : Promise.all(Array.from({ length: 5 }, () => h1Login(gw, ip, 'carol'))))))
      ).flat();
      assert.equal(seenFor('carol'), 12, 'max_failures_account guesses reached the login');
      assert.equal(answers.filter((a) => a.status === 429).length, 18);
    });

    it('a guess whose client disconnects before the slow answer still counts; a request refused by a later stage does not', async () => {
      // Refused by validation (the body is no object) after the reservation: released, never reached the upstream.
      for (let i = 0; i < 8; i++) {
        const refused = await send(gw.url, '/login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.12' }, body: '["dave"]' });
        assert.equal(refused.status, 400);
      }
      const before = up.seen.length;
      // Five guesses whose clients give up after 50 ms, while the upstream takes 150 ms to answer.
      await Promise.all(
        Array.from({ length: 5 }, () =>
          send(gw.url, '/login', {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.12' },
            body: JSON.stringify({ username: 'dave', password: 'x' }),
            timeoutMs: 50,
          }).then(
            () => assert.fail('the client gave up first'),
            () => undefined,
          ),
        ),
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(up.seen.length - before, 5, 'the dropped guesses reached the upstream');
      const next = await h1Login(gw, '203.0.113.12', 'dave');
      assert.equal(next.status, 429, 'dropped guesses were kept as failures: disconnecting buys no extra guesses');
      assert.equal(next.type, 'https://rampart.dev/problems/account_locked');
      assert.equal(up.seen.length - before, 5);
    });

    it('a successful login releases its reservation', async () => {
      up.handler = (_req, res) => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 150);
      try {
        const answers = await Promise.all(Array.from({ length: 8 }, () => h1Login(gw, '203.0.113.13', 'erin')));
        assert.equal(answers.filter((a) => a.status === 200).length, 5, 'in flight together, the reservations still cap the burst');
        const later = await Promise.all(Array.from({ length: 3 }, () => h1Login(gw, '203.0.113.13', 'erin')));
        assert.deepEqual(later.map((a) => a.status), [200, 200, 200], 'after success, nothing was kept as a failure');
      } finally {
        up.handler = (_req, res) => setTimeout(() => res.writeHead(401).end(), 150);
      }
    });

    it('the admin /readyz still answers', async () => {
      assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200);
    });
  });
}

suite('memory');
suite('redis');
