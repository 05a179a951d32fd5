/**
 * Response digests on request (RFC 9530 §4, `Want-Content-Digest` / `Want-Repr-Digest`) through a real gateway in
 * front of a real upstream: a buffered body gets the digest as a header, computed on the bytes actually sent; a
 * streamed body gets it as a trailer, hashed as it passes (HTTP/1.1 with `TE: trailers`, and HTTP/2), never by
 * buffering; an upstream's own digest that no longer matches what is sent is dropped; malformed or unacceptable
 * preferences get nothing and break nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ITEMS_SPEC, itemsConfig } from './helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const digestOf = (body: Buffer | string, algorithm: 'sha256' | 'sha512' = 'sha256') => `${algorithm.replace('sha', 'sha-')}=:${createHash(algorithm).update(body).digest('base64')}:`;
const STREAMED = Buffer.from('x'.repeat(200_000));

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | undefined>;
  readonly body: Buffer;
}

/** An HTTP/1.1 request over TLS with Node's client (it exposes trailers). */
function h1(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, trailers: res.trailers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An HTTP/2 request (trailers arrive on their own frame). */
function h2(origin: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = connect(origin, { rejectUnauthorized: false });
    session.on('error', reject);
    const stream = session.request({ ':path': path, ...headers });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: Record<string, string | string[] | undefined> = {};
    let trailers: Record<string, string | undefined> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h as Record<string, string | string[] | undefined>;
    });
    stream.on('trailers', (t) => (trailers = t as Record<string, string | undefined>));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    stream.on('error', reject);
    stream.end();
  });
}

describe('response digests on request', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    up = await startUpstream();
    assert.equal(STREAMED.length % 16_384 !== 0, true);
    up.handler = (req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/items')) {
        const body = JSON.stringify({ items: [{ id: 'a1', name: 'first' }] });
        // A digest the upstream computed: right, or wrong (stale after a change it did not hash again).
        const given = url.includes('stale') ? digestOf('something else') : digestOf(body);
        res.writeHead(200, { 'content-type': 'application/json', 'content-digest': given });
        res.end(body);
      } else if (url.startsWith('/gz')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
        res.end(gzipSync(STREAMED));
      } else {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': STREAMED.length });
        // In pieces, so the body really streams.
        let sent = 0;
        const next = () => {
          if (sent >= STREAMED.length) return res.end();
          res.write(STREAMED.subarray(sent, sent + 16_384));
          sent += 16_384;
          setImmediate(next);
        };
        next();
      }
    };
    gw = await startGateway(
      // `raw` has no response stage that reads the body (no WAF leak check), so its answers stream; `buf` buffers.
      itemsConfig(up.url, { apis: [{ name: 'items', spec: './items.yaml', upstream: 'main', base_path: '/api' }, { name: 'raw', passthrough: true, upstream: 'main', base_path: '/raw', waf: { enabled: false } }, { name: 'buf', passthrough: true, upstream: 'main', base_path: '/buf' }] }),
      { tls: true, files: { 'items.yaml': ITEMS_SPEC } },
    );
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('a buffered body gets the digest of the bytes sent, in the algorithm the client prefers', async () => {
    const a = await h1(`${gw.url}/api/items`, { 'want-content-digest': 'sha-256=3' });
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-digest'], digestOf(a.body));
    const b = await h1(`${gw.url}/api/items`, { 'want-content-digest': 'sha-256=1, sha-512=9' });
    assert.equal(b.headers['content-digest'], digestOf(b.body, 'sha512'));
    const c = await h1(`${gw.url}/api/items`, { 'want-repr-digest': 'sha-512=5' });
    assert.equal(c.headers['repr-digest'], digestOf(c.body, 'sha512'));
  });

  test('an upstream digest that does not match what is sent is never passed on', async () => {
    const fine = await h1(`${gw.url}/buf/items`);
    assert.equal(fine.headers['content-digest'], digestOf(fine.body), 'a matching one stays');
    const stale = await h1(`${gw.url}/buf/items?stale=1`);
    assert.equal(stale.status, 200);
    assert.equal(stale.headers['content-digest'], undefined, 'a stale one is dropped');
    const replaced = await h1(`${gw.url}/buf/items?stale=1`, { 'want-content-digest': 'sha-256=1' });
    assert.equal(replaced.headers['content-digest'], digestOf(replaced.body), 'and replaced when asked for');
  });

  test('unacceptable or malformed preferences get nothing and break nothing', async () => {
    for (const want of ['md5=10', 'sha-256=0', 'sha-256=11', 'sha-256=?1', '(((', 'sha-256=:AAA=:', 'x'.repeat(5000)]) {
      const a = await h1(`${gw.url}/raw/stream`, { 'want-content-digest': want, te: 'trailers' });
      assert.equal(a.status, 200, want.slice(0, 20));
      assert.equal(a.trailers['content-digest'], undefined, want.slice(0, 20));
      assert.equal(a.body.length, STREAMED.length);
    }
  });

  test('a streamed body (HTTP/1.1, TE: trailers) gets the digest as a trailer; without TE it gets none', async () => {
    const a = await h1(`${gw.url}/raw/stream`, { 'want-content-digest': 'sha-256=1', te: 'trailers' });
    assert.equal(a.status, 200);
    assert.equal(a.body.length, STREAMED.length);
    assert.match(String(a.headers['trailer']), /content-digest/i);
    assert.equal(a.trailers['content-digest'], digestOf(STREAMED));
    const b = await h1(`${gw.url}/raw/stream`, { 'want-content-digest': 'sha-256=1' });
    assert.equal(b.body.length, STREAMED.length);
    assert.equal(b.headers['content-digest'], undefined);
    assert.equal(b.trailers['content-digest'], undefined);
    assert.equal(b.headers['content-length'], String(STREAMED.length), 'untouched when no digest is sent');
  });

  test('HTTP/2: the trailer of a streamed body; a content-coded body gets Content-Digest but no Repr-Digest', async () => {
    const origin = gw.url;
    const a = await h2(origin, '/raw/stream', { 'want-content-digest': 'sha-512=1' });
    assert.equal(a.status, 200);
    assert.equal(a.trailers['content-digest'], digestOf(STREAMED, 'sha512'));
    const coded = await h2(origin, '/raw/gz', { 'want-content-digest': 'sha-256=1', 'want-repr-digest': 'sha-256=1', 'accept-encoding': 'gzip' });
    assert.equal(coded.status, 200);
    assert.equal(coded.trailers['content-digest'], digestOf(coded.body), 'over the coded bytes as sent');
    assert.equal(coded.trailers['repr-digest'], undefined, 'the gateway does not decode to hash the representation');
  });

  test('HEAD answers carry no computed digest; the gateway keeps serving', async () => {
    const head = await h1(`${gw.url}/raw/stream`, { 'want-content-digest': 'sha-256=1', te: 'trailers' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.trailers['content-digest'], undefined);
    assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200);
  });
});
