/**
 * The gateway's RFC 9421 signature on WebSocket upgrades (`apis[].upstream_signing`), through a real gateway in
 * front of a real WebSocket upstream (the `ws` library on a loopback port). The upstream checks the handshake it
 * received — method, its own Host, the path and query on its request line, the headers as they arrived — with the
 * `http-message-signatures` verifier and the public key from the admin JWKS, and with node:crypto over a signature
 * base it builds itself. A client's own Signature/Signature-Input never reach the upstream. Loopback only.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createVerifier, httpbis } from 'http-message-signatures';
import { WebSocket } from 'ws';
import { ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV, adminCall } from './helpers/apikeys.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startEcho, type Handshake } from './helpers/ws-echo.ts';

const SPEC = `openapi: 3.1.0
info: { title: chat, version: 1.0.0 }
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: X-API-Key }
security: [ { apiKey: [] } ]
paths:
  /rooms/{room}:
    parameters:
      - { name: room, in: path, required: true, schema: { type: string } }
      - { name: since, in: query, schema: { type: integer } }
      - { name: tag, in: query, schema: { type: string } }
    get:
      operationId: room
      x-rampart-websocket: true
      responses: { '101': { description: switching protocols } }
`;

const gatewayKey = generateKeyPairSync('ed25519');
const pem = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** One upgrade as the upstream received it. */
/** Opens a socket through the gateway and exchanges one message; resolves once it echoed. */
async function roundTrip(gw: TestGateway, path: string, headers: Record<string, string>): Promise<void> {
  const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + path, { headers });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    ws.send('hello');
    assert.equal(await echoed, 'hello');
  } finally {
    ws.close();
  }
}

describe('WebSocket upgrades signed upstream (RFC 9421)', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let gw: TestGateway;
  let key = '';
  let publicKey: KeyObject;

  before(async () => {
    echo = await startEcho();
    gw = await startGateway(
      {
        monitor: { enabled: false },
        admin: ADMIN_CONFIG,
        upstreams: { chat: { url: echo.url } },
        apis: [
          {
            name: 'chat',
            spec: './chat.yaml',
            base_path: '/v1',
            upstream: 'chat',
            auth: { api_keys: true },
            websocket: { enabled: true },
            upstream_signing: { enabled: true, keys: [{ keyid: 'rampart-ws-1', private_key: '${file:gateway-sign.pem}' }] },
          },
        ],
      },
      { files: { 'chat.yaml': SPEC, 'gateway-sign.pem': pem(gatewayKey.privateKey) }, env: TEST_ENV },
    );
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'alice', name: 'Alice' })).status, 201);
    key = String((await adminCall(gw.adminUrl, 'POST', '/keys', ADMIN_TOKEN, { consumer: 'alice' })).json['key']);
    const jwks = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    const jwk = jwks.keys.find((k) => k['kid'] === 'rampart-ws-1');
    assert.ok(jwk, 'the upstream signing key is on the admin JWKS');
    publicKey = createPublicKey({ key: jwk, format: 'jwk' });
  });
  after(async () => {
    await gw?.close();
    await echo?.close();
  });

  /** The library's verification of a handshake as the upstream received it (its Host, its request line). */
  const verifies = (h: Handshake, requiredFields: string[], url = `http://${String(h.headers.host)}${h.url}`) =>
    httpbis.verifyMessage(
      { keyLookup: async (params) => (params.keyid === 'rampart-ws-1' ? { id: 'rampart-ws-1', algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') } : null), requiredFields },
      { method: h.method, url, headers: h.headers as Record<string, string> },
    );

  test('the upgrade the upstream receives carries the gateway\'s signature over GET, its authority, the upstream path and query, and the identity assertion', async () => {
    await roundTrip(gw, '/v1/rooms/lobby?since=10&tag=a%20b', { 'x-api-key': key });
    const h = echo.handshakes.at(-1)!;
    assert.equal(h.method, 'GET');
    assert.equal(h.url, '/rooms/lobby?since=10&tag=a%20b', 'the base path is stripped: the upstream path is what is signed');
    assert.equal(h.headers.host, new URL(echo.url).host);
    assert.equal(typeof h.headers['x-rampart-identity'], 'string', 'the identity assertion is sent');
    // content-type and content-digest are listed by default but a bodiless upgrade has neither: not covered.
    assert.match(String(h.headers['signature-input']), /^rampart=\("@method" "@authority" "@path" "@query" "x-rampart-identity"\);created=\d+;expires=\d+;keyid="rampart-ws-1";alg="ed25519";nonce="[A-Za-z0-9_-]+"$/);
    assert.match(String(h.headers['signature']), /^rampart=:[A-Za-z0-9+/]+=*:$/);
    assert.equal(h.headers['content-digest'], undefined, 'no body, no digest: the upgrade is not buffered');
    assert.equal(await verifies(h, ['@method', '@authority', '@path', '@query', 'x-rampart-identity']), true, 'the upstream verifies the handshake with the JWKS key');

    // The same check with node:crypto alone, over the base rebuilt from the request line and headers received.
    const input = String(h.headers['signature-input']).slice('rampart='.length);
    const q = h.url.indexOf('?');
    const base = [
      `"@method": ${h.method}`,
      `"@authority": ${String(h.headers.host)}`,
      `"@path": ${h.url.slice(0, q)}`,
      `"@query": ${h.url.slice(q)}`,
      `"x-rampart-identity": ${String(h.headers['x-rampart-identity'])}`,
      `"@signature-params": ${input}`,
    ].join('\n');
    const signature = Buffer.from(String(h.headers['signature']).slice('rampart=:'.length, -1), 'base64');
    assert.equal(cryptoVerify(null, Buffer.from(base), publicKey, signature), true, 'node:crypto verifies the rebuilt base');

    // Changed in transit, it no longer verifies: another path, another query, another authority.
    assert.equal(await verifies(h, ['@method'], `http://${String(h.headers.host)}/rooms/admin?since=10&tag=a%20b`), false);
    assert.equal(await verifies(h, ['@method'], `http://${String(h.headers.host)}/rooms/lobby?since=0`), false);
    assert.equal(await verifies(h, ['@method'], `http://evil.example/rooms/lobby?since=10&tag=a%20b`), false);
  });

  test('a client\'s forged Signature / Signature-Input never reach the upstream: only the gateway\'s signature does', async () => {
    const forged = {
      'x-api-key': key,
      'signature-input': 'rampart=("@method" "@authority");created=1700000000;keyid="rampart-ws-1";alg="ed25519", partner=("@method");created=1700000000;keyid="partner"',
      signature: `rampart=:${Buffer.alloc(64, 7).toString('base64')}:, partner=:${Buffer.alloc(64, 9).toString('base64')}:`,
      // The digest of an empty body (a wrong one is refused by the digest check): the gateway still must not vouch for it.
      'content-digest': `sha-256=:${createHash('sha256').update('').digest('base64')}:`,
    };
    await roundTrip(gw, '/v1/rooms/lobby', forged);
    const h = echo.handshakes.at(-1)!;
    const lines = (name: string) => h.rawHeaders.filter((_, i) => i % 2 === 0 && h.rawHeaders[i]!.toLowerCase() === name).length;
    assert.equal(lines('signature'), 1, 'one Signature line: the gateway\'s');
    assert.equal(lines('signature-input'), 1, 'one Signature-Input line: the gateway\'s');
    assert.ok(!String(h.headers['signature']).includes('partner=') && !String(h.headers['signature-input']).includes('partner='), 'no member of the client\'s fields is forwarded');
    assert.ok(!String(h.headers['signature']).includes(Buffer.alloc(64, 7).toString('base64')), 'the forged signature bytes are gone');
    assert.doesNotMatch(String(h.headers['signature-input']), /created=1700000000/);
    assert.equal(h.headers['content-digest'], undefined, 'the client\'s Content-Digest on an upgrade is not forwarded (nor signed)');
    assert.doesNotMatch(String(h.headers['signature-input']), /content-digest/);
    assert.equal(await verifies(h, ['@method', '@authority', '@path', 'x-rampart-identity']), true);
  });

  test('each upgrade gets a fresh signature (its own nonce), so the upstream can refuse a replayed handshake', async () => {
    await roundTrip(gw, '/v1/rooms/a', { 'x-api-key': key });
    await roundTrip(gw, '/v1/rooms/a', { 'x-api-key': key });
    const [first, second] = echo.handshakes.slice(-2) as [Handshake, Handshake];
    const nonce = (h: Handshake) => /;nonce="([^"]+)"/.exec(String(h.headers['signature-input']))?.[1];
    assert.ok(nonce(first) !== undefined && nonce(first) !== nonce(second));
    for (const h of [first, second]) assert.equal(await verifies(h, ['@method', '@authority', '@path']), true);
  });
});
