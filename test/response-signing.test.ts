/**
 * The gateway signs its responses (RFC 9421 §2.2.9, `apis[].response_signing`) through a real gateway in front of a
 * real upstream. A client verifies them with the `http-message-signatures` library and the key from the admin JWKS
 * (not with Rampart's code). The signature covers `@status`, `content-type` and a `Content-Digest` the gateway
 * adds to buffered bodies. A changed status, header or body does not verify, and an upstream's own `Signature` is
 * replaced. Streamed bodies are signed without a digest. A config naming a request component is refused at
 * start-up, naming its path.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createVerifier, httpbis } from 'http-message-signatures';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const key = generateKeyPairSync('ed25519');
const FILES = { 'response-sign.pem': key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
const digestOf = (body: string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;

function config(upstreamUrl: string, signing: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    upstreams: { main: { url: upstreamUrl } },
    apis: [
      { name: 'buffered', passthrough: true, upstream: 'main', base_path: '/b', response_signing: { enabled: true, keys: [{ keyid: 'resp-2026', private_key: '${file:response-sign.pem}' }], ...signing } },
      { name: 'streamed', passthrough: true, upstream: 'main', base_path: '/s', waf: { enabled: false }, response_signing: { enabled: true, keys: [{ keyid: 'resp-2026', private_key: '${file:response-sign.pem}' }] } },
    ],
  };
}

describe('signed responses', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let verify: (status: number, headers: Record<string, string>, required?: string[]) => Promise<boolean | null>;

  before(async () => {
    up = await startUpstream();
    up.handler = (req, res) => {
      const status = (req.url ?? '').includes('missing') ? 404 : 200;
      // An upstream that signs on its own: the gateway's signature replaces it.
      res.writeHead(status, { 'content-type': 'application/json', signature: 'upstream=:AAAA:', 'signature-input': 'upstream=("@status")' });
      res.end(JSON.stringify({ ok: status === 200, path: req.url }));
    };
    gw = await startGateway(config(up.url), { files: FILES });
    const jwks = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    const jwk = jwks.keys.find((k) => k['kid'] === 'resp-2026');
    assert.ok(jwk, 'the response signing key is published on the admin JWKS');
    assert.equal(jwk['d'], undefined);
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    verify = (status, headers, required = ['@status', 'content-type', 'content-digest']) =>
      httpbis.verifyMessage({ keyLookup: async (p) => (p.keyid === 'resp-2026' ? { id: 'resp-2026', algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') } : null), requiredFields: required }, { status, headers });
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  test('a buffered answer carries a Content-Digest of its body and a signature over status, type and digest', async () => {
    const res = await fetch(`${gw.url}/b/orders/1`);
    const body = await res.text();
    const headers = Object.fromEntries(res.headers);
    assert.equal(res.status, 200);
    assert.equal(headers['content-digest'], digestOf(body));
    assert.match(headers['signature-input']!, /^rampart=\("@status" "content-type" "content-digest"\);created=\d+;expires=\d+;keyid="resp-2026";alg="ed25519";nonce="[A-Za-z0-9_-]+"$/);
    assert.doesNotMatch(headers['signature']!, /upstream=/, "the upstream's own signature is replaced");
    assert.equal(await verify(res.status, headers), true);
  });

  test('a changed status, content type or body does not verify', async () => {
    const res = await fetch(`${gw.url}/b/missing`);
    const body = await res.text();
    const headers = Object.fromEntries(res.headers);
    assert.equal(res.status, 404);
    assert.equal(await verify(404, headers), true, 'error answers of the upstream are signed too');
    assert.equal(await verify(200, headers), false, 'a 404 replayed as a 200');
    assert.equal(await verify(404, { ...headers, 'content-type': 'text/html' }), false);
    assert.equal(await verify(404, { ...headers, 'content-digest': digestOf(`${body} `) }), false, 'a digest of another body');
    assert.notEqual(digestOf(body.replace('false', 'true ')), headers['content-digest'], 'a changed body no longer matches the signed digest');
  });

  test('a streamed answer is signed over status and type (no digest: the body is not buffered for it)', async () => {
    const res = await fetch(`${gw.url}/s/feed`);
    await res.text();
    const headers = Object.fromEntries(res.headers);
    assert.equal(headers['content-digest'], undefined);
    assert.match(headers['signature-input']!, /^rampart=\("@status" "content-type"\)/);
    assert.equal(await verify(res.status, headers, ['@status', 'content-type']), true);
  });

  test('a request component in response_signing.components stops start-up naming its path', async () => {
    await assert.rejects(startGateway(config(up.url, { components: ['@status', '@method'] }), { files: FILES }), /apis\[0\]\.response_signing\.components\[1\]/);
  });
});
