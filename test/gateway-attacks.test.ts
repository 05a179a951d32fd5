/**
 * Connection and normalisation attacks against a real gateway in front of a real upstream: path traversal
 * encodings, oversized URL/headers/body, wrong method and media type, unknown paths, slow clients. Every deny is
 * a problem+json response and the upstream is never reached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { itemsConfig, problemOf, rawExchange, rawJson, rawStatus, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { assertProblem } from './helpers/http.ts';

const LIMITS = { headers_timeout_ms: 300, request_timeout_ms: 1500, max_url_length: 1024, max_header_bytes: 8192 };


describe('gateway attacks (HTTP/1.1)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url, { limits: LIMITS, api: { max_body_bytes: 1024 } }), { files: SPEC_FILES });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** Runs `fn` and asserts the upstream saw no new request. */
  async function unreached<T>(fn: () => Promise<T>): Promise<T> {
    const before = upstream.seen.length;
    const result = await fn();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(upstream.seen.length, before, 'the upstream must not be reached');
    return result;
  }

  test('a legitimate request reaches the upstream', async () => {
    const res = await send(gw.url, '/items/abc?x=1');
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.at(-1)?.url, '/items/abc?x=1');
  });

  const TRAVERSALS = [
    ['encoded dots', '/items/%2e%2e/admin'],
    ['upper-case encoded dots', '/items/%2E%2E/%2E%2E/etc/passwd'],
    ['encoded slash', '/items/a%2fb'],
    ['encoded backslash', '/items/..%5c..%5cwindows'],
    ['double encoding', '/items/%252e%252e/admin'],
    ['encoded NUL', '/items/abc%00.json'],
    ['overlong UTF-8 dot', '/items/%c0%ae%c0%ae/admin'],
    ['overlong UTF-8 slash', '/items/%c0%af'],
    ['invalid UTF-8', '/items/%ff'],
    ['dot-dot segment', '/items/../admin'],
    ['dot segment', '/items/./abc'],
    ['empty segment', '//items'],
    ['malformed percent', '/items/%zz'],
    ['absolute-form target', 'http://evil.example/items'],
  ] as const;
  for (const [name, path] of TRAVERSALS) {
    test(`path traversal: ${name} → 400 invalid_path`, async () => {
      const res = await unreached(() => send(gw.url, path));
      assertProblem(res, 400, 'invalid_path');
    });
  }

  test('raw NUL and backslash in the request line are refused without reaching the upstream', async () => {
    for (const target of ['/items/a\\..\\b', '/items/a\x00b']) {
      const { text } = await unreached(() => rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, 2000));
      assert.equal(rawStatus(text), 400, JSON.stringify(text.slice(0, 80)));
    }
  });

  const SMUGGLING = [
    ['Content-Length with Transfer-Encoding', 'POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /items/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['two different Content-Length values', 'POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}'],
    ['obfuscated Transfer-Encoding', 'POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
    ['bare LF line endings with a space before the colon', 'GET /items HTTP/1.1\nHost : localhost\n\n'],
  ] as const;
  for (const [name, raw] of SMUGGLING) {
    test(`request smuggling: ${name} → 400 and the connection closed`, async () => {
      const { text, closed } = await unreached(() => rawExchange(port, raw, 3000));
      assert.equal(rawStatus(text), 400, JSON.stringify(text.slice(0, 80)));
      assert.ok(closed);
      assert.ok(!upstream.seen.some((r) => r.url === '/items/smuggled'));
    });
  }

  test('NUL in the query → 400', async () => {
    const res = await unreached(() => send(gw.url, '/items?q=a%00b'));
    assertProblem(res, 400, 'bad_request');
  });

  test('URL longer than limits.max_url_length → 414', async () => {
    const res = await unreached(() => send(gw.url, `/items?q=${'a'.repeat(2000)}`));
    assertProblem(res, 414, 'uri_too_long');
  });

  test('headers larger than limits.max_header_bytes → 431 problem (raw socket)', async () => {
    const raw = `GET /items HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`;
    const { text, closed } = await unreached(() => rawExchange(port, raw, 3000));
    assert.equal(rawStatus(text), 431);
    assert.equal(problemOf(rawJson(text)).code, 'headers_too_large');
    assert.ok(closed, 'the connection is closed');
  });

  test('body announced larger than the cap → 413', async () => {
    const res = await unreached(() =>
      send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(2000) }) }),
    );
    assertProblem(res, 413, 'payload_too_large');
  });

  test('chunked body streaming past the cap → 413 and nothing complete reaches the upstream', async () => {
    const chunk = `"${'x'.repeat(400)}",`;
    const res = await unreached(() =>
      send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json' }, chunks: ['[', chunk, chunk, chunk, chunk, '"end"]'] }),
    );
    assertProblem(res, 413, 'payload_too_large');
  });

  test('wrong content type → 415', async () => {
    const res = await unreached(() => send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }));
    assertProblem(res, 415, 'unsupported_media_type');
  });

  test('missing content type on a body → 415', async () => {
    const res = await unreached(() => send(gw.url, '/items', { method: 'POST', body: '{}' }));
    assertProblem(res, 415, 'unsupported_media_type');
  });

  test('a body within the cap and an accepted type reaches the upstream', async () => {
    const res = await send(gw.url, '/items', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"a":1}' });
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.at(-1)?.body, '{"a":1}');
  });

  test('undeclared method → 405 with Allow', async () => {
    const res = await unreached(() => send(gw.url, '/items', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }));
    assertProblem(res, 405, 'method_not_allowed');
    assert.equal(res.headers['allow'], 'GET, HEAD, POST');
  });

  test('unknown path → 404 (positive security model)', async () => {
    const res = await unreached(() => send(gw.url, '/admin/users'));
    assertProblem(res, 404, 'not_found');
  });

  test('slowloris: a client trickling headers is cut off after limits.headers_timeout_ms', async () => {
    const { text, closed } = await unreached(() => rawExchange(port, 'GET /items HTTP/1.1\r\nHost: localhost\r\nX-Slow: a', 4000));
    assert.ok(closed, 'the gateway closes the connection long before the 4 s client deadline');
    if (text !== '') {
      assert.equal(rawStatus(text), 408);
      assert.equal(problemOf(rawJson(text)).code, 'request_timeout');
    }
  });

  test('whole-request timeout: a body trickled slower than limits.request_timeout_ms is cut off', async () => {
    const head = 'POST /items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{';
    const { closed } = await rawExchange(port, head, 5000);
    assert.ok(closed, 'the gateway closes the connection before the 5 s client deadline');
    assert.ok(!upstream.seen.some((s) => s.body.startsWith('{') && s.body.length === 1), 'no partial body is delivered');
  });
});

describe('gateway attacks on the TLS listener (HTTP/1.1 side of the HTTP/2 server)', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url, { limits: LIMITS }), { tls: true, files: SPEC_FILES });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  function tlsExchange(data: string, timeoutMs: number): Promise<{ text: string; closed: boolean }> {
    return new Promise((resolve) => {
      const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => socket.write(data));
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
      }, timeoutMs);
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true });
      });
    });
  }

  test('oversized headers over HTTP/1.1-in-TLS → 431 problem', async () => {
    const { text } = await tlsExchange(`GET /items HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`, 3000);
    assert.equal(rawStatus(text), 431);
    assert.equal(problemOf(rawJson(text)).code, 'headers_too_large');
    assert.equal(upstream.seen.length, 0);
  });

  test('slowloris over HTTP/1.1-in-TLS is cut off after limits.headers_timeout_ms', async () => {
    const { text, closed } = await tlsExchange('GET /items HTTP/1.1\r\nHost: localhost\r\nX-Slow: a', 4000);
    assert.ok(closed, 'closed before the 4 s client deadline');
    if (text !== '') assert.equal(rawStatus(text), 408);
    assert.equal(upstream.seen.length, 0);
  });

  test('a TCP connection that never starts the TLS handshake is closed', async () => {
    const { closed } = await rawExchange(port, '', 4000);
    assert.ok(closed, 'closed by the handshake timeout before the 4 s client deadline');
  });

  test('traversal over TLS → 400', async () => {
    const res = await send(gw.url, '/items/%2e%2e/admin');
    assertProblem(res, 400, 'invalid_path');
    assert.equal(upstream.seen.length, 0);
  });
});
