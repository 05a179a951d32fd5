/**
 * mTLS from Rampart to the upstream: a real https upstream that requires client certificates, certificates from
 * a CA generated here (@peculiar/x509). The configured client certificate gets through; an upstream whose
 * certificate chains to an unknown CA, or one that refuses Rampart for lack of a client certificate, is a 503 problem
 * that leaks nothing; the client certificate is rotated without restart; bad TLS settings stop start-up naming
 * their config path.
 */
import assert from 'node:assert/strict';
import { writeFileSync, renameSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../src/config/errors.ts';
import { loadConfigText } from '../src/config/load.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { createCa, issueLeaf, type TestCa as Ca } from './helpers/test-ca.ts';
import { eventually } from './helpers/gateway-fixtures.ts';

interface MtlsUpstream {
  readonly url: string;
  /** CN of the client certificate of each request that reached the handler. */
  readonly seen: string[];
  close(): Promise<void>;
}

/** A real https upstream that requires a client certificate from `clientCa` (the handshake fails without one). */
async function startMtlsUpstream(serverCa: Ca, clientCa: Ca): Promise<MtlsUpstream> {
  const pair = await issueLeaf(serverCa, 'upstream.internal', { usage: 'server' });
  const seen: string[] = [];
  const server: Server = createServer({ ...pair, ca: clientCa.pem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    seen.push(String(peer.subject?.CN));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ client: peer.subject?.CN }));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function get(base: string, path: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(new URL(path, base));
  const text = await res.text();
  const type = res.headers.get('content-type')?.includes('json') ? String((JSON.parse(text) as Record<string, unknown>)['type'] ?? '') : '';
  return { status: res.status, type, text };
}

/** Retries `path` until it answers `status` (files are polled for changes), bounded in time; returns the last status. */
async function untilStatus(base: string, path: string, status: number): Promise<number> {
  let last = 0;
  await eventually(async () => (last = (await get(base, path)).status) === status, 10_000);
  return last;
}

describe('mTLS from Rampart to the upstream', () => {
  let serverCa: Ca;
  let clientCa: Ca;
  let rogueCa: Ca;
  let trusted: MtlsUpstream;
  let rogue: MtlsUpstream;
  let gw: TestGateway;

  before(async () => {
    [serverCa, clientCa, rogueCa] = await Promise.all([createCa('Upstream Server CA'), createCa('Rampart Client CA'), createCa('Rogue Server CA')]);
    trusted = await startMtlsUpstream(serverCa, clientCa);
    rogue = await startMtlsUpstream(rogueCa, clientCa);
    const client = await issueLeaf(clientCa, 'rampart-gateway', { usage: 'client' });
    const stranger = await issueLeaf(rogueCa, 'rampart-gateway', { usage: 'client' });
    const tls = { ca: '${file:upstream-ca.pem}', cert: '${file:client.crt}', key: '${file:client.key}' };
    gw = await startGateway(
      {
        upstreams: {
          good: { url: trusted.url, tls },
          untrusted: { url: rogue.url, tls },
          nocert: { url: trusted.url, tls: { ca: '${file:upstream-ca.pem}' } },
          defaultcas: { url: trusted.url, tls: { cert: tls.cert, key: tls.key } },
          // Health-checked: the probes' own connections must take the rotated certificate too, or the target never
          // comes back into rotation.
          rotating: {
            url: trusted.url,
            tls: { ca: '${file:upstream-ca.pem}', cert: '${file:rotating.crt}', key: '${file:rotating.key}' },
            health_check: { path: '/health', interval_ms: 100, timeout_ms: 1000, healthy_threshold: 1, unhealthy_threshold: 1 },
          },
          named: { url: trusted.url, tls: { ...tls, servername: 'upstream.internal' } },
        },
        apis: [
          { name: 'good', passthrough: true, upstream: 'good', base_path: '/good' },
          { name: 'untrusted', passthrough: true, upstream: 'untrusted', base_path: '/untrusted' },
          { name: 'nocert', passthrough: true, upstream: 'nocert', base_path: '/nocert' },
          { name: 'defaultcas', passthrough: true, upstream: 'defaultcas', base_path: '/defaultcas' },
          { name: 'rotating', passthrough: true, upstream: 'rotating', base_path: '/rotating' },
          { name: 'named', passthrough: true, upstream: 'named', base_path: '/named' },
        ],
      },
      {
        files: {
          'upstream-ca.pem': serverCa.pem,
          'client.crt': client.cert,
          'client.key': client.key,
          // Starts with a certificate the upstream does not trust; rotated to a good one in a test below.
          'rotating.crt': stranger.cert,
          'rotating.key': stranger.key,
        },
      },
    );
  });
  after(async () => {
    await gw?.close();
    await trusted?.close();
    await rogue?.close();
  });

  it('reaches the upstream with the configured client certificate, verifying the upstream by the configured CA', async () => {
    const res = await get(gw.url, '/good/items');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.text), { client: 'rampart-gateway' });
    assert.equal(trusted.seen.at(-1), 'rampart-gateway');
  });

  it('checks the upstream certificate against tls.servername when set', async () => {
    assert.equal((await get(gw.url, '/named/items')).status, 200);
  });

  it('an upstream certificate from an unknown CA: 503 problem, nothing about TLS leaked, request never sent', async () => {
    const seen = rogue.seen.length;
    const res = await get(gw.url, '/untrusted/items');
    assert.equal(res.status, 503);
    assert.equal(res.type, 'https://rampart.dev/problems/upstream_unavailable');
    assert.equal(rogue.seen.length, seen);
    for (const leak of ['Rogue', 'CERT', 'certificate', 'verify', 'SELF_SIGNED', '127.0.0.1']) assert.ok(!res.text.includes(leak), `body leaks "${leak}": ${res.text}`);
    // The operator sees why in the log.
    assert.match(gw.rawLogs(), /upstream request failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  });

  it('without tls.ca the upstream is still verified (against the public CAs, which do not know it): 503', async () => {
    const seen = trusted.seen.length;
    const res = await get(gw.url, '/defaultcas/items');
    assert.equal(res.status, 503);
    assert.equal(trusted.seen.length, seen);
  });

  it('no client certificate configured: the upstream refuses the handshake → 503', async () => {
    const seen = trusted.seen.length;
    const res = await get(gw.url, '/nocert/items');
    assert.equal(res.status, 503);
    assert.equal(res.type, 'https://rampart.dev/problems/upstream_unavailable');
    assert.equal(trusted.seen.length, seen);
  });

  it('a rotated client certificate is used for new connections (traffic and health checks) without restart, also after a config reload', async () => {
    assert.equal((await get(gw.url, '/rotating/items')).status, 503); // the upstream does not trust the first one
    // A config reload with the same upstream settings keeps the pool and must keep watching its files.
    assert.equal(await gw.gateway.reload(), true);
    assert.equal((await get(gw.url, '/rotating/items')).status, 503);
    const next = await issueLeaf(clientCa, 'rampart-rotated', { usage: 'client' });
    // Key first, then certificate, each renamed into place (as cert tools do).
    writeFileSync(join(gw.dir, 'rotating.key.tmp'), next.key);
    renameSync(join(gw.dir, 'rotating.key.tmp'), join(gw.dir, 'rotating.key'));
    writeFileSync(join(gw.dir, 'rotating.crt.tmp'), next.cert);
    renameSync(join(gw.dir, 'rotating.crt.tmp'), join(gw.dir, 'rotating.crt'));
    assert.equal(await untilStatus(gw.url, '/rotating/items', 200), 200);
    assert.equal(trusted.seen.at(-1), 'rampart-rotated');
    assert.ok(gw.logs.some((l) => l['msg'] === 'upstream TLS material reloaded' && l['upstream'] === 'rotating'));
  });

  it('a broken rotation (key not matching the certificate) is rejected and the current material keeps working', async () => {
    const other = await issueLeaf(clientCa, 'rampart-other', { usage: 'client' });
    writeFileSync(join(gw.dir, 'client.key'), other.key); // the certificate stays the old one
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !gw.logs.some((l) => l['msg'] === 'upstream TLS material change rejected; keeping the current one' && l['upstream'] === 'good')) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gw.logs.some((l) => l['msg'] === 'upstream TLS material change rejected; keeping the current one' && l['upstream'] === 'good'));
    assert.equal((await get(gw.url, '/good/items')).status, 200);
  });
});

describe('upstream TLS misconfiguration stops start-up', () => {
  let dir: string;
  let ca: Ca;
  let pair: { cert: string; key: string };
  let otherKey: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-upstream-tls-'));
    ca = await createCa('Config CA');
    pair = await issueLeaf(ca, 'rampart', { usage: 'client' });
    otherKey = (await issueLeaf(ca, 'other', { usage: 'client' })).key;
    writeFileSync(join(dir, 'ca.pem'), ca.pem);
    writeFileSync(join(dir, 'client.crt'), pair.cert);
    writeFileSync(join(dir, 'client.key'), pair.key);
    writeFileSync(join(dir, 'other.key'), otherKey);
    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  });

  function issuesFor(url: string, tls: Record<string, string>): { path: string; message: string }[] {
    const text = stringify({
      listen: { http: { port: 0, host: '127.0.0.1', insecure: true } },
      upstreams: { billing: { url, tls } },
      apis: [{ name: 'a', upstream: 'billing', passthrough: true }],
    });
    try {
      loadConfigText(text, join(dir, 'rampart.yaml'), {});
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.issues.map((i) => ({ path: i.path, message: i.message }));
    }
    return [];
  }

  it('accepts a complete, consistent tls block', () => {
    assert.deepEqual(issuesFor('https://billing.internal', { ca: '${file:ca.pem}', cert: '${file:client.crt}', key: '${file:client.key}' }), []);
  });

  it('a missing certificate file names upstreams.<name>.tls.cert', () => {
    const issues = issuesFor('https://billing.internal', { cert: '${file:missing.crt}', key: '${file:client.key}' });
    assert.equal(issues[0]?.path, 'upstreams.billing.tls.cert');
    assert.match(issues[0]!.message, /cannot read file/);
  });

  it('a key that does not belong to the certificate names upstreams.<name>.tls.key', () => {
    assert.equal(issuesFor('https://billing.internal', { cert: '${file:client.crt}', key: '${file:other.key}' })[0]?.path, 'upstreams.billing.tls.key');
  });

  it('a CA bundle without certificates names upstreams.<name>.tls.ca', () => {
    assert.equal(issuesFor('https://billing.internal', { ca: '${file:garbage.pem}' })[0]?.path, 'upstreams.billing.tls.ca');
  });

  it('a literal key, a cert without key, and tls on an http:// upstream are refused', () => {
    assert.equal(issuesFor('https://billing.internal', { cert: '${file:client.crt}', key: '-----BEGIN PRIVATE KEY-----' })[0]?.path, 'upstreams.billing.tls.key');
    assert.equal(issuesFor('https://billing.internal', { cert: '${file:client.crt}' })[0]?.path, 'upstreams.billing.tls');
    assert.equal(issuesFor('http://billing.internal', { ca: '${file:ca.pem}' })[0]?.path, 'upstreams.billing.tls');
  });

  it('the gateway refuses to start with a misconfigured path, naming it', async () => {
    await assert.rejects(
      startGateway({ upstreams: { billing: { url: 'https://127.0.0.1:1', tls: { cert: '${file:nope.crt}', key: '${file:nope.key}' } } }, apis: [{ name: 'a', upstream: 'billing', passthrough: true }] }),
      (error: unknown) => error instanceof ConfigError && /upstreams\.billing\.tls\.cert/.test(error.message),
    );
  });
});
