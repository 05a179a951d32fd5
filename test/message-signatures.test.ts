/**
 * HTTP Message Signatures (RFC 9421, src/policies/authn-signature) through a real gateway in front of a real
 * upstream. Clients sign with the `http-message-signatures` library's own signer (its URL handling, not the
 * gateway's), and the upstream's copy of the gateway's signature is checked with the library's verifier against the
 * admin JWKS. Every attack must be a 401 problem that never reaches the upstream; the gateway keeps answering.
 */
import assert from 'node:assert/strict';
import { constants, createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSigner, createVerifier, httpbis } from 'http-message-signatures';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { rawExchange, rawJson, rawStatus, send } from './helpers/gateway-fixtures.ts';
import { assertAlive, assertProblem } from './helpers/http.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const SPEC = `openapi: 3.1.0
info: { title: partners, version: 1.0.0 }
components:
  securitySchemes:
    partnerSignature: { type: http, scheme: signature }
security: [ { partnerSignature: [] } ]
paths:
  /orders:
    post:
      operationId: createOrder
      x-rampart-signature: { components: ['@method', '@target-uri', content-digest, content-type] }
      requestBody: { content: { application/json: { schema: { type: object } } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /orders/{id}:
    parameters: [ { name: id, in: path, required: true, schema: { type: string } } ]
    get:
      operationId: getOrder
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /status:
    get:
      operationId: status
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

const pem = (key: KeyObject, type: 'spki' | 'pkcs8') => key.export({ type, format: 'pem' }).toString();
const ed = generateKeyPairSync('ed25519');
const ecc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('ed25519');
const hmacSecret = randomBytes(32);
const gatewayKey = generateKeyPairSync('ed25519');
const previousGatewayKey = generateKeyPairSync('ed25519');

const FILES = {
  'partners.yaml': SPEC,
  'partner-ed.pub': pem(ed.publicKey, 'spki'),
  'partner-rsa.pub': pem(rsa.publicKey, 'spki'),
  'gateway-sign.pem': pem(gatewayKey.privateKey, 'pkcs8'),
  'gateway-sign-old.pem': pem(previousGatewayKey.privateKey, 'pkcs8'),
};
const ENV = {
  ...process.env,
  PARTNER_ECC_JWK: JSON.stringify(ecc.publicKey.export({ format: 'jwk' })),
  PARTNER_HMAC: hmacSecret.toString('base64'),
};

function config(upstreamUrl: string, counters?: Record<string, unknown>): Record<string, unknown> {
  return {
    upstreams: { main: { url: upstreamUrl } },
    // The attacks below would otherwise have incident response block 127.0.0.1 (403) part-way.
    monitor: { enabled: false },
    ...(counters ? { counters } : {}),
    apis: [
      {
        name: 'partners',
        spec: './partners.yaml',
        upstream: 'main',
        auth: {
          // Every attack below is a failure from 127.0.0.1; backoff would turn the later ones into 429s.
          failure_backoff: { enabled: false },
          signatures: {
            components: ['@method', '@target-uri'],
            keys: {
              'partner-ed-2025': { consumer: 'partner-ed', algorithm: 'ed25519', public_key: '${file:partner-ed.pub}', scopes: ['orders:read'] },
              'partner-ecc': { consumer: 'partner-ecc', algorithm: 'ecdsa-p256-sha256', public_key: '${env:PARTNER_ECC_JWK}' },
              'partner-rsa': { consumer: 'partner-rsa', algorithm: 'rsa-pss-sha512', public_key: '${file:partner-rsa.pub}' },
              'partner-hmac': { consumer: 'partner-hmac', algorithm: 'hmac-sha256', secret: '${env:PARTNER_HMAC}' },
            },
          },
        },
        upstream_signing: {
          enabled: true,
          keys: [
            { keyid: 'rampart-2025-06', private_key: '${file:gateway-sign.pem}' },
            { keyid: 'rampart-2025-01', private_key: '${file:gateway-sign-old.pem}' },
          ],
        },
      },
    ],
  };
}

interface SignOptions {
  readonly keyid?: string;
  readonly key?: KeyObject | Buffer;
  readonly alg?: string;
  readonly fields?: string[];
  readonly created?: Date;
  readonly expires?: Date;
  readonly nonce?: string | null;
  readonly params?: string[];
  /** RSA-PSS: false signs with the library's default salt (the longest), not RFC 9421's 64 bytes. */
  readonly rfcSalt?: boolean;
}

/** RSA-PSS as RFC 9421 §3.3.1 has it: SHA-512, MGF1-SHA-512, a 64-byte salt (the library's signer uses the longest). */
function rsaPssSigner(key: KeyObject, keyid: string) {
  return { id: keyid, alg: 'rsa-pss-sha512', sign: async (data: Buffer) => cryptoSign('sha512', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }) };
}

/** Signs a request as a partner would, with the library's signer; returns the headers to send. */
async function signed(url: string, method: string, headers: Record<string, string>, options: SignOptions = {}): Promise<Record<string, string>> {
  const keyid = options.keyid ?? 'partner-ed-2025';
  const alg = options.alg ?? 'ed25519';
  const key = options.key ?? ed.privateKey;
  const nonce = options.nonce === undefined ? randomUUID() : options.nonce;
  const params = options.params ?? ['created', 'keyid', ...(nonce === null ? [] : ['nonce']), ...(options.expires ? ['expires'] : [])];
  const message = await httpbis.signMessage(
    {
      key: alg === 'rsa-pss-sha512' && options.rfcSalt !== false ? rsaPssSigner(key as KeyObject, keyid) : createSigner(key as KeyObject, alg, keyid),
      fields: options.fields ?? ['@method', '@target-uri'],
      params,
      paramValues: { created: options.created ?? new Date(), ...(nonce === null ? {} : { nonce }), ...(options.expires ? { expires: options.expires } : {}) },
    },
    { method, url, headers: { ...headers } },
  );
  return message.headers as Record<string, string>;
}

/** The reason the gateway logged for denying request `requestId` (the client only gets the generic problem). */
function denyReason(gw: TestGateway, requestId: string): unknown {
  return gw.logs.find((l) => l['requestId'] === requestId && l['reason'] !== undefined)?.['reason'];
}

const digestOf = (body: string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
const decodeJwt = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('HTTP message signatures (RFC 9421)', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(config(up.url), { files: FILES, env: ENV });
    base = gw.url;
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const get = async (path: string, headers: Record<string, string>) => send(base, path, { headers });

  test('happy paths: each algorithm authenticates its consumer, which the upstream sees in the identity assertion', async () => {
    const cases: [SignOptions, string][] = [
      [{}, 'partner-ed'],
      [{ keyid: 'partner-ecc', key: ecc.privateKey, alg: 'ecdsa-p256-sha256' }, 'partner-ecc'],
      [{ keyid: 'partner-rsa', key: rsa.privateKey, alg: 'rsa-pss-sha512' }, 'partner-rsa'],
      [{ keyid: 'partner-hmac', key: hmacSecret, alg: 'hmac-sha256' }, 'partner-hmac'],
    ];
    for (const [options, consumer] of cases) {
      const res = await get('/orders/1', await signed(`${base}/orders/1`, 'GET', { host: new URL(base).host }, options));
      assert.equal(res.status, 200, `${consumer}: ${res.body}`);
      const identity = decodeJwt(String(up.seen.at(-1)!.headers['x-rampart-identity']));
      assert.equal(identity['consumer'], consumer);
      assert.equal(identity['auth_method'], 'signature');
      assert.equal(identity['key_id'], options.keyid ?? 'partner-ed-2025');
    }
  });

  test('POST with a covered content-digest passes; the body changed after signing is refused and never forwarded', async () => {
    const body = '{"item":"widget","qty":1}';
    const headers = { host: new URL(base).host, 'content-type': 'application/json', 'content-digest': digestOf(body) };
    const fields = ['@method', '@target-uri', 'content-digest', 'content-type'];
    const ok = await send(base, '/orders', { method: 'POST', headers: await signed(`${base}/orders`, 'POST', headers, { fields }), body });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(up.seen.at(-1)!.body, body);
    const before = up.seen.length;
    const tampered = await send(base, '/orders', { method: 'POST', headers: await signed(`${base}/orders`, 'POST', headers, { fields }), body: '{"item":"widget","qty":1000}' });
    assert.equal(denyReason(gw, String(assertProblem(tampered, 401, 'invalid_token')['requestId'])), 'message signature rejected: body_does_not_match_digest');
    // The operation requires content-digest: a signature without it is refused even with a matching body.
    const uncovered = await send(base, '/orders', { method: 'POST', headers: await signed(`${base}/orders`, 'POST', headers, { fields: ['@method', '@target-uri', 'content-type'] }), body });
    assertProblem(uncovered, 401, 'invalid_token');
    assert.equal(up.seen.length, before);
  });

  test('attacks: wrong key, unknown keyid, component removed, changed or reordered, alg confusion — 401, upstream not reached', async () => {
    const host = new URL(base).host;
    const before = up.seen.length;
    const attempts: [string, Record<string, string>, string?][] = [];
    attempts.push(['wrong key', await signed(`${base}/orders/1`, 'GET', { host }, { key: stranger.privateKey })]);
    attempts.push(['unknown keyid', await signed(`${base}/orders/1`, 'GET', { host }, { keyid: 'partner-nobody' })]);
    attempts.push(['required component removed', await signed(`${base}/orders/1`, 'GET', { host }, { fields: ['@method'] })]);
    attempts.push(['another path', await signed(`${base}/orders/1`, 'GET', { host }), '/orders/2']);
    attempts.push(['another query', await signed(`${base}/orders/1`, 'GET', { host }), '/orders/1?admin=1']);
    attempts.push(['another host', await signed(`http://evil.example/orders/1`, 'GET', { host })]);
    const reordered = await signed(`${base}/orders/1`, 'GET', { host });
    reordered['Signature-Input'] = reordered['Signature-Input']!.replace('("@method" "@target-uri")', '("@target-uri" "@method")');
    attempts.push(['components reordered', reordered]);
    const edPublicPem = pem(ed.publicKey, 'spki');
    attempts.push(['HMAC with the public key as secret, alg=hmac-sha256', await signed(`${base}/orders/1`, 'GET', { host }, { key: Buffer.from(edPublicPem), alg: 'hmac-sha256', params: ['created', 'keyid', 'nonce', 'alg'] })]);
    attempts.push(['HMAC with the public key as secret, no alg', await signed(`${base}/orders/1`, 'GET', { host }, { key: Buffer.from(edPublicPem), alg: 'hmac-sha256' })]);
    attempts.push(['RSA-PSS with another salt length than RFC 9421\'s 64 bytes', await signed(`${base}/orders/1`, 'GET', { host }, { keyid: 'partner-rsa', key: rsa.privateKey, alg: 'rsa-pss-sha512', rfcSalt: false })]);
    attempts.push(['HMAC key with an RSA signature', await signed(`${base}/orders/1`, 'GET', { host }, { keyid: 'partner-hmac', key: rsa.privateKey, alg: 'rsa-pss-sha512', params: ['created', 'keyid', 'nonce', 'alg'] })]);
    const expected: Record<string, string> = {
      'wrong key': 'bad_signature',
      'unknown keyid': 'unknown_key',
      'required component removed': 'required_component_missing',
      'another path': 'bad_signature',
      'another query': 'bad_signature',
      'another host': 'bad_signature',
      'components reordered': 'bad_signature',
      'HMAC with the public key as secret, alg=hmac-sha256': 'alg_mismatch',
      'HMAC with the public key as secret, no alg': 'bad_signature',
      "RSA-PSS with another salt length than RFC 9421's 64 bytes": 'bad_signature',
      'HMAC key with an RSA signature': 'alg_mismatch',
    };
    for (const [name, headers, path] of attempts) {
      const res = await get(path ?? '/orders/1', headers);
      const problem = assertProblem(res, 401, 'invalid_token');
      assert.equal(denyReason(gw, String(problem['requestId'])), `message signature rejected: ${expected[name]}`, name);
    }
    // A public route still refuses a presented-but-invalid signature.
    assertProblem(await get('/status', attempts[0]![1]), 401, 'invalid_token');
    assert.equal(up.seen.length, before, 'no attack reached the upstream');
    // No signature at all on a protected route: 401 unauthorized.
    assertProblem(await get('/orders/1', {}), 401, 'unauthorized');
  });

  test('created is required; too old, ahead of the clock, or past expires is refused', async () => {
    const host = new URL(base).host;
    const old = await signed(`${base}/orders/1`, 'GET', { host }, { created: new Date(Date.now() - 310_000) });
    assert.equal(denyReason(gw, String(assertProblem(await get('/orders/1', old), 401, 'invalid_token')['requestId'])), 'message signature rejected: too_old');
    const future = await signed(`${base}/orders/1`, 'GET', { host }, { created: new Date(Date.now() + 60_000) });
    assertProblem(await get('/orders/1', future), 401, 'invalid_token');
    const expired = await signed(`${base}/orders/1`, 'GET', { host }, { created: new Date(Date.now() - 20_000), expires: new Date(Date.now() - 10_000) });
    assert.equal(denyReason(gw, String(assertProblem(await get('/orders/1', expired), 401, 'invalid_token')['requestId'])), 'message signature rejected: expired');
    const noCreated = await signed(`${base}/orders/1`, 'GET', { host }, { params: ['keyid', 'nonce'] });
    assertProblem(await get('/orders/1', noCreated), 401, 'invalid_token');
    const noNonce = await signed(`${base}/orders/1`, 'GET', { host }, { nonce: null });
    assertProblem(await get('/orders/1', noNonce), 401, 'invalid_token');
    const fresh = await signed(`${base}/orders/1`, 'GET', { host }, { expires: new Date(Date.now() + 30_000) });
    assert.equal((await get('/orders/1', fresh)).status, 200);
  });

  test('replay: the same signature (same nonce) is accepted once', async () => {
    const headers = await signed(`${base}/orders/1`, 'GET', { host: new URL(base).host });
    assert.equal((await get('/orders/1', headers)).status, 200);
    const before = up.seen.length;
    assert.equal(denyReason(gw, String(assertProblem(await get('/orders/1', headers), 401, 'invalid_token')['requestId'])), 'message signature rejected: replayed');
    assert.equal(up.seen.length, before);
  });

  test('malformed Signature / Signature-Input (garbage bytes included) is a 401 problem, never a 500; the gateway stays up', async () => {
    const port = Number(new URL(base).port);
    const valid = await signed(`${base}/orders/1`, 'GET', { host: new URL(base).host });
    const garbage = ['sig=', 'sig=(', '=:', 'sig=("@method" "@target-uri";created=1', 'sig=:%%%:', `sig=${'('.repeat(300)}`, 'sig=();created=1;keyid="partner-ed-2025"', 'sig=?1', 'sig=@1700000000'];
    for (let i = 0; i < 40; i++) {
      // Visible ASCII and obs-text (0x80–0xff): what an HTTP/1.1 parser lets through into a field value.
      garbage.push(Buffer.from([...randomBytes(8 + i * 3)].map((b) => (b % 2 === 0 ? 0x21 + (b % 94) : 0x80 + (b % 128)))).toString('latin1'));
    }
    for (const value of garbage) {
      for (const [input, signature] of [[value, valid['Signature']!], [valid['Signature-Input']!, value], [value, value]]) {
        const request = `GET /orders/1 HTTP/1.1\r\nHost: ${new URL(base).host}\r\nSignature-Input: ${input}\r\nSignature: ${signature}\r\nConnection: close\r\n\r\n`;
        const { text } = await rawExchange(port, request);
        const status = rawStatus(text);
        assert.equal(status, 401, `garbage ${JSON.stringify(value)} → ${status}`);
        assert.match(text, /content-type: application\/problem\+json/i);
        assert.equal(rawJson(text)['type'], 'https://rampart.dev/problems/invalid_token');
      }
    }
    await assertAlive(gw.adminUrl);
  });

  test('outbound: the upstream gets the gateway\'s Ed25519 signature, verifiable with the JWKS (current and previous keys)', async () => {
    const jwks = (await (await fetch(`${gw.adminUrl}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    const current = jwks.keys.find((k) => k['kid'] === 'rampart-2025-06');
    assert.ok(current, 'the current key is published');
    assert.ok(jwks.keys.some((k) => k['kid'] === 'rampart-2025-01'), 'the previous key stays published');
    assert.equal(current['crv'], 'Ed25519');
    assert.equal(current['d'], undefined, 'no private member');
    const body = '{"item":"gadget"}';
    const headers = { host: new URL(base).host, 'content-type': 'application/json', 'content-digest': digestOf(body) };
    const res = await send(base, '/orders', { method: 'POST', headers: await signed(`${base}/orders`, 'POST', headers, { fields: ['@method', '@target-uri', 'content-digest', 'content-type'] }), body });
    assert.equal(res.status, 200, res.body);
    const seen = up.seen.at(-1)!;
    assert.match(String(seen.headers['signature-input']), /^rampart=\("@method" "@authority" "@path" "@query" "content-type" "content-digest" "x-rampart-identity"\);created=\d+;expires=\d+;keyid="rampart-2025-06";alg="ed25519";nonce="[A-Za-z0-9_-]+"$/);
    assert.equal(seen.headers['content-digest'], digestOf(body));
    const publicKey = createPublicKey({ key: current, format: 'jwk' });
    const verified = await httpbis.verifyMessage(
      { keyLookup: async (params) => (params.keyid === 'rampart-2025-06' ? { id: 'rampart-2025-06', algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') } : null), requiredFields: ['@method', '@authority', '@path', 'content-digest', 'x-rampart-identity'] },
      { method: seen.method, url: `${up.url}${seen.url}`, headers: seen.headers as Record<string, string> },
    );
    assert.equal(verified, true, 'the upstream verifies the gateway');
    const forged = await httpbis.verifyMessage(
      { keyLookup: async () => ({ id: 'x', algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') }) },
      { method: seen.method, url: `${up.url}/orders?tampered=1`, headers: seen.headers as Record<string, string> },
    );
    assert.equal(forged, false, 'a changed target does not verify');
  });

  test('outbound: a client Content-Digest on a request without a body is not forwarded under the gateway signature', async () => {
    // With digests not checked, the client's field would otherwise reach the upstream covered by the gateway.
    const unchecked = config(up.url);
    (unchecked['apis'] as Record<string, unknown>[])[0]!['content_digest'] = { verify: 'off' };
    const other = await startGateway(unchecked, { files: FILES, env: ENV });
    try {
      const bogus = `sha-256=:${Buffer.alloc(32, 7).toString('base64')}:`;
      const headers = { ...(await signed(`${other.url}/orders/1`, 'GET', { host: new URL(other.url).host })), 'content-digest': bogus };
      const res = await send(other.url, '/orders/1', { headers });
      assert.equal(res.status, 200, res.body);
      const seen = up.seen.at(-1)!;
      assert.ok(seen.headers['signature-input'], 'the request was signed by the gateway');
      assert.equal(seen.headers['content-digest'], undefined, 'no unchecked digest is vouched for');
    } finally {
      await other.close();
    }
  });
});

describe('replay across two gateway instances sharing Redis', () => {
  let up: TestUpstream;
  const gws: TestGateway[] = [];
  const prefix = `rampart_test_${randomBytes(6).toString('hex')}:`;

  before(async () => {
    up = await startUpstream();
    for (let i = 0; i < 2; i++) gws.push(await startGateway(config(up.url, { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix }), { files: FILES, env: ENV }));
  });
  after(async () => {
    await Promise.all(gws.map((g) => g.close()));
    await up?.close();
  });

  test('a signature accepted by instance A is refused by instance B (the nonce is shared)', async () => {
    const [a, b] = gws as [TestGateway, TestGateway];
    // Both instances listen on 127.0.0.1 (different ports): the client signs for the authority it sends to.
    const headersA = await signed(`${a.url}/orders/1`, 'GET', { host: new URL(a.url).host });
    assert.equal((await send(a.url, '/orders/1', { headers: headersA })).status, 200);
    const before = up.seen.length;
    // Replayed at B with the same Host (the @target-uri it was signed for): only the nonce stops it.
    const replay = await send(b.url, '/orders/1', { headers: headersA });
    assertProblem(replay, 401, 'invalid_token');
    assert.equal(up.seen.length, before);
    const fresh = await signed(`${a.url}/orders/1`, 'GET', { host: new URL(a.url).host });
    assert.equal((await send(b.url, '/orders/1', { headers: fresh })).status, 200, 'a fresh signature for the same target passes at B');
    assert.ok(b.logs.some((l) => typeof l['reason'] === 'string' && String(l['reason']).includes('replayed')), 'B logged the replay');
    await assertAlive(b.adminUrl);
  });
});
