/**
 * mTLS: client certificates from a CA generated here (@peculiar/x509) are verified on the TLS listener and mapped
 * to consumers. Valid → 200; unknown CA, expired, unmapped → 401 without reaching the upstream; no certificate →
 * public routes still work; the client CA bundle is reloaded when its file changes.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/config/errors.ts';
import { loadConfigText } from '../src/config/load.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { DAY, createCa, issueLeaf, type TestCa as Ca } from './helpers/test-ca.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { itemsSpec } from './helpers/apikeys.ts';

const issueClient = (ca: Ca, cn: string, notBefore: Date, notAfter: Date) => issueLeaf(ca, cn, { usage: 'client', notBefore, notAfter });

const SPEC = itemsSpec('mtls', 'clientCert: { type: mutualTLS }');

function get(base: string, path: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, agent: false, ...(client ?? {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mTLS client certificates', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let ca: Ca;
  let other: Ca;

  before(async () => {
    ca = await createCa('Rampart Test Client CA');
    other = await createCa('Some Other CA');
    up = await startUpstream();
    gw = await startGateway(
      {
        listen: { https: { port: 0, host: '127.0.0.1', cert: '${file:tls.crt}', key: '${file:tls.key}', client_ca: '${file:ca.pem}', http2: false } },
        upstreams: { main: { url: up.url } },
        apis: [{ name: 'svc', spec: './mtls.yaml', upstream: 'main', auth: { mtls: { consumers: { 'CN=svc-a': 'svc-a' } } }, response: { mode: 'off' } }],
      },
      { tls: true, files: { 'mtls.yaml': SPEC, 'ca.pem': ca.cert.toString('pem') } },
    );
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  it('accepts a valid client certificate and maps its CN to the consumer', async () => {
    const client = await issueClient(ca, 'svc-a', new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const res = await get(gw.url, '/items', client);
    assert.equal(res.status, 200);
  });

  for (const [name, make] of [
    ['a certificate from an unknown CA', () => issueClient(other, 'svc-a', new Date(Date.now() - DAY), new Date(Date.now() + DAY))],
    ['an expired certificate', () => issueClient(ca, 'svc-a', new Date(Date.now() - 10 * DAY), new Date(Date.now() - DAY))],
    ['a valid certificate mapped to no consumer', () => issueClient(ca, 'svc-unknown', new Date(Date.now() - DAY), new Date(Date.now() + DAY))],
  ] as const) {
    it(`rejects ${name} with 401 and never reaches the upstream`, async () => {
      const seen = up.seen.length;
      const res = await get(gw.url, '/items', await make());
      assert.equal(res.status, 401);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(body['type'], 'https://rampart.dev/problems/invalid_token');
      assert.equal(up.seen.length, seen);
    });
  }

  it('without a certificate: protected routes 401, public routes still served', async () => {
    const seen = up.seen.length;
    assert.equal((await get(gw.url, '/items')).status, 401);
    assert.equal(up.seen.length, seen);
    assert.equal((await get(gw.url, '/public')).status, 200);
  });

  it('reloads the client CA bundle on change: a newly added CA is accepted, a removed one refused, without restart', async () => {
    const added = await createCa('Newly Added Client CA');
    const fromAdded = await issueClient(added, 'svc-a', new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const fromOld = await issueClient(ca, 'svc-a', new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    assert.equal((await get(gw.url, '/items', fromAdded)).status, 401);
    // Waits for the listener to log the reload rather than polling with requests: repeated 401s from one address
    // would (rightly) get it blocked by the monitor.
    const reloads = () => gw.logs.filter((l) => l['msg'] === 'TLS certificate reloaded').length;
    const replace = async (pem: string) => {
      const seen = reloads();
      writeFileSync(join(gw.dir, 'ca.pem.tmp'), pem);
      renameSync(join(gw.dir, 'ca.pem.tmp'), join(gw.dir, 'ca.pem'));
      const deadline = Date.now() + 10_000;
      while (reloads() === seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(reloads() > seen, 'the listener reloaded its TLS material');
    };
    await replace(ca.cert.toString('pem') + added.cert.toString('pem'));
    assert.equal((await get(gw.url, '/items', fromAdded)).status, 200);
    assert.equal((await get(gw.url, '/items', fromOld)).status, 200);
    await replace(added.cert.toString('pem'));
    assert.equal((await get(gw.url, '/items', fromOld)).status, 401);
    assert.equal((await get(gw.url, '/items', fromAdded)).status, 200);
  });

  it('a replacement CA file that holds no certificate is rejected and the current bundle keeps working', async () => {
    const current = await issueClient(ca, 'svc-a', new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const before = (await get(gw.url, '/items', current)).status;
    writeFileSync(join(gw.dir, 'ca.pem'), 'not a certificate\n');
    const rejected = () => gw.logs.some((l) => l['msg'] === 'TLS certificate change rejected; keeping the current one');
    const deadline = Date.now() + 10_000;
    while (!rejected() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(rejected());
    assert.equal((await get(gw.url, '/items', current)).status, before);
  });
});

it('a client_ca file that does not exist stops start-up naming listen.https.client_ca', () => {
  const text = stringify({
    listen: { https: { port: 0, cert: '${file:tls.crt}', key: '${file:tls.key}', client_ca: '${file:no-such-ca.pem}' } },
    upstreams: { main: { url: 'http://127.0.0.1:1' } },
    apis: [{ name: 'a', upstream: 'main', passthrough: true }],
  });
  assert.throws(
    () => loadConfigText(text, join(tmpdir(), 'rampart.yaml'), {}),
    (error: unknown) => error instanceof ConfigError && error.issues.some((i) => i.path === 'listen.https.client_ca' && /cannot read file/.test(i.message)),
  );
});
