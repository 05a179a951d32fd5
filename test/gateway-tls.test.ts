/**
 * The TLS listener of a real gateway: protocol versions and suites, HTTP/2 and HTTP/1.1 by ALPN, HSTS, the plain
 * listener's 308 redirect, and certificate reload without restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { startGateway, testCertificate, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { eventually, itemsConfig, problemOf, send, SPEC_FILES } from './helpers/gateway-fixtures.ts';
import { createSelfSignedCertificate } from '../src/server/certificates.ts';

function handshake(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost', ...options }, () => resolve(socket));
    socket.once('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timeout')));
  });
}

function h2request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    stream.setTimeout(5000, () => stream.close());
    if (body !== undefined) stream.end(body);
  });
}

describe('TLS listener', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url, { listen: { http: { port: 0, host: '127.0.0.1' } }, limits: { request_timeout_ms: 800 } }), {
      tls: true,
      files: SPEC_FILES,
    });
    port = gw.gateway.addresses.https!;
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('a client limited to TLS 1.1 cannot connect', async () => {
    // The client really offers TLS 1.1 (SECLEVEL=0); the server answers with a protocol_version alert.
    await assert.rejects(handshake(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }), /protocol version/);
  });

  test('TLS 1.2 with a strong suite works; TLS 1.3 is preferred', async () => {
    const v12 = await handshake(port, { maxVersion: 'TLSv1.2' });
    assert.equal(v12.getProtocol(), 'TLSv1.2');
    assert.match(v12.getCipher().name, /GCM|CHACHA20/);
    v12.destroy();
    const best = await handshake(port, {});
    assert.equal(best.getProtocol(), 'TLSv1.3');
    best.destroy();
  });

  test('a TLS 1.2 client offering only CBC suites is refused', async () => {
    await assert.rejects(handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA' }));
  });

  test('HTTP/2 by ALPN: proxied, with HSTS and security headers, banners removed', async () => {
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    try {
      const res = await h2request(session, { ':method': 'GET', ':path': '/items/h2?x=1' });
      assert.equal(res.status, 200);
      assert.match(String(res.headers['strict-transport-security']), /^max-age=31536000; includeSubDomains$/);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['server'], undefined);
      assert.equal(res.headers['x-powered-by'], undefined);
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.url, '/items/h2?x=1');
      assert.equal(seen.headers['x-forwarded-proto'], 'https');
      assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${port}`);

      const post = await h2request(session, { ':method': 'POST', ':path': '/items', 'content-type': 'application/json' }, '{"h2":true}');
      assert.equal(post.status, 200);
      assert.equal(upstream.seen.at(-1)!.body, '{"h2":true}');

      const before = upstream.seen.length;
      const bad = await h2request(session, { ':method': 'GET', ':path': '/items/%2e%2e/admin' });
      assert.equal(bad.status, 400);
      assert.equal(problemOf(JSON.parse(bad.body) as Record<string, unknown>).code, 'invalid_path');
      assert.equal(bad.headers['cache-control'], 'no-store');
      const wrongType = await h2request(session, { ':method': 'POST', ':path': '/items', 'content-type': 'text/plain' }, 'x');
      assert.equal(wrongType.status, 415);
      assert.equal(upstream.seen.length, before);
    } finally {
      session.close();
    }
  });

  test('HTTP/2 request headers over the header cap never reach the upstream', async () => {
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    session.on('error', () => undefined);
    const before = upstream.seen.length;
    try {
      const outcome = await h2request(session, { ':method': 'GET', ':path': '/items', 'x-big': 'a'.repeat(40_000) }).then(
        (r) => r.status,
        () => 'refused',
      );
      assert.ok(outcome === 'refused' || outcome === 431, `got ${String(outcome)}`);
      assert.equal(upstream.seen.length, before);
    } finally {
      session.destroy();
    }
  });

  test('HTTP/2 slow body: a stream still sending its body after limits.request_timeout_ms gets 408 and is closed', async () => {
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    session.on('error', () => undefined);
    try {
      const result = await new Promise<{ status: number; body: string; closed: boolean }>((resolve) => {
        const stream = session.request({ ':method': 'POST', ':path': '/items', 'content-type': 'application/json' }, { endStream: false });
        stream.write('{"trickle":');
        let status = 0;
        const chunks: Buffer[] = [];
        const timer = setTimeout(() => resolve({ status, body: Buffer.concat(chunks).toString(), closed: false }), 5000);
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('error', () => undefined);
        stream.on('close', () => {
          clearTimeout(timer);
          resolve({ status, body: Buffer.concat(chunks).toString(), closed: true });
        });
      });
      assert.ok(result.closed, 'the stream is closed before the 5 s client deadline');
      assert.equal(result.status, 408);
      assert.equal(problemOf(JSON.parse(result.body) as Record<string, unknown>).code, 'request_timeout');
      assert.ok(await eventually(() => gw.gateway.handler.inFlight === 0), 'nothing left in flight');
    } finally {
      session.destroy();
    }
  });

  test('HTTP/1.1 over TLS works with HSTS', async () => {
    const res = await send(gw.url, '/items');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['strict-transport-security']), /^max-age=/);
  });

  test('the plain HTTP listener answers 308 to https when not insecure, and never proxies', async () => {
    const plain = `http://127.0.0.1:${gw.gateway.addresses.http!}`;
    const before = upstream.seen.length;
    const res = await send(plain, '/items?x=1', { headers: { host: 'localhost:8080' } });
    assert.equal(res.status, 308);
    assert.equal(res.headers['location'], `https://localhost:${port}/items?x=1`);
    const post = await send(plain, '/items', { method: 'POST', headers: { host: 'localhost', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(post.status, 308);
    const badHost = await send(plain, '/items', { headers: { host: 'evil.example/@x' } });
    assert.equal(badHost.status, 400);
    assert.equal(upstream.seen.length, before);
  });
});

describe('certificate reload', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(itemsConfig(upstream.url), { tls: true, files: SPEC_FILES });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function servedFingerprint(): Promise<string> {
    const socket = await handshake(gw.gateway.addresses.https!, {});
    const fingerprint = socket.getPeerCertificate().fingerprint256;
    socket.destroy();
    return fingerprint;
  }

  test('a replaced certificate is served to new connections without restart', async () => {
    const original = new X509Certificate((await testCertificate()).cert).fingerprint256;
    assert.equal(await servedFingerprint(), original);
    const next = await createSelfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });
    const expected = new X509Certificate(next.cert).fingerprint256;
    writeFileSync(join(gw.dir, 'tls.key'), next.key);
    writeFileSync(join(gw.dir, 'tls.crt'), next.cert);
    assert.ok(await eventually(async () => (await servedFingerprint()) === expected, 5000), 'the new certificate is served');
    assert.ok(gw.logs.some((l) => l['msg'] === 'TLS certificate reloaded'));
    const res = await send(gw.url, '/items');
    assert.equal(res.status, 200);
  });

  test('a broken certificate file is rejected and the current one keeps serving', async () => {
    const current = await servedFingerprint();
    writeFileSync(join(gw.dir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    assert.ok(await eventually(() => gw.logs.some((l) => l['msg'] === 'TLS certificate change rejected; keeping the current one'), 5000));
    assert.equal(await servedFingerprint(), current);
  });
});
