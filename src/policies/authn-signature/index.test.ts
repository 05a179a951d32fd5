import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { test } from 'node:test';
import type { FromSchema } from 'json-schema-to-ts';
import { httpbis } from 'http-message-signatures';
import { withSchemaDefaults } from '../../config/defaults.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { loadConfigText, type LoadedConfig } from '../../config/load.ts';
import { RequestContext, type Identity, type ServerRequest, type ServerResponseLike, type Services } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import type { AuthenticatorBuildInput } from '../authn/types.ts';
import { coveredComponents, signatureBase, type SignedMessage } from './components.ts';
import { createSignatureAuthenticator, createUpstreamSigner } from './index.ts';
import { StoreSignatureKeys } from './store-keys.ts';
import { LocalBus } from '../../bus/invalidation.ts';
import type { Consumer, SignatureKeyRecord, Store } from '../../store/types.ts';
import { verificationKey } from './keys.ts';
import { MemoryNonceCache } from './replay.ts';
import { parseDictionary, serializeItem, type InnerList } from 'structured-headers';
import * as V from './rfc9421-vectors.ts';
import { signatureAuthSchema, upstreamSigningSchema, type SignatureAuthConfig, type UpstreamSigningConfig } from './schema.ts';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type MutableArray<V> = V extends readonly (infer E)[] ? E[] : V;
type Mutable<T> = { -readonly [K in keyof T]: MutableArray<T[K]> };
const upstreamTypeMatches: Same<Mutable<UpstreamSigningConfig>, FromSchema<typeof upstreamSigningSchema>> = true;

const RFC_KEYS = {
  'test-key-rsa-pss': { consumer: 'partner-rsa', algorithm: 'rsa-pss-sha512', public_key: V.TEST_KEY_RSA_PSS },
  'test-key-ecc-p256': { consumer: 'partner-ecc', algorithm: 'ecdsa-p256-sha256', public_key: V.TEST_KEY_ECC_P256 },
  'test-key-ed25519': { consumer: 'partner-ed', algorithm: 'ed25519', public_key: V.TEST_KEY_ED25519 },
  'test-shared-secret': { consumer: 'partner-hmac', algorithm: 'hmac-sha256', secret: V.TEST_SHARED_SECRET },
};
const AT_CREATED = (V.EXAMPLE_CREATED + 2) * 1000;

/** The slice as the loader leaves it: validated with the secret as a reference, then the reference resolved. */
function config(given: Record<string, unknown> = {}): SignatureAuthConfig {
  const keys = { ...RFC_KEYS, 'test-shared-secret': { ...RFC_KEYS['test-shared-secret'], secret: '${env:TEST_SHARED_SECRET}' } };
  const checked = withSchemaDefaults<SignatureAuthConfig>(signatureAuthSchema, { keys, components: [], nonce: 'optional', require_content_digest: false, ...given });
  return { ...checked, keys: { ...checked.keys, 'test-shared-secret': { ...checked.keys['test-shared-secret']!, secret: V.TEST_SHARED_SECRET } } };
}

function upstreamConfig(given: Record<string, unknown>, pem?: string): UpstreamSigningConfig {
  const checked = withSchemaDefaults<UpstreamSigningConfig>(upstreamSigningSchema, given);
  return pem === undefined ? checked : { ...checked, keys: checked.keys?.map((k) => ({ ...k, private_key: pem })) };
}

let apiCounter = 0;
function authenticator(cfg: SignatureAuthConfig, now = AT_CREATED, raw: Record<string, unknown> = {}, operationId = 'op', services: Partial<Services> = {}) {
  const api = { name: `api${apiCounter++}`, operations: {} };
  const input = {
    api,
    apiIndex: 0,
    auth: { signatures: cfg },
    services: { logger: undefined, ...services } as unknown as Services,
    operationId,
    operation: { raw },
    maxBodyBytes: 1024,
  } as unknown as AuthenticatorBuildInput;
  const a = createSignatureAuthenticator(input, { now: () => now });
  assert.ok(a);
  return a;
}

/** A RequestContext over a fake request: method, origin-form target, raw headers (in order) and a body. */
function context(method: string, target: string, headers: readonly (readonly [string, string])[], body?: string, secure = true): RequestContext {
  const lower: Record<string, string> = {};
  for (const [name, value] of headers) lower[name.toLowerCase()] = lower[name.toLowerCase()] === undefined ? value : `${lower[name.toLowerCase()]}, ${value}`;
  if (body !== undefined) lower['content-length'] ??= String(Buffer.byteLength(body));
  const req = { method, url: target, headers: lower, rawHeaders: headers.flat(), httpVersion: '1.1', socket: {} } as unknown as ServerRequest;
  const ctx = new RequestContext(req, {} as ServerResponseLike, 'req-1', '127.0.0.1', secure);
  if (body !== undefined) Object.defineProperty(ctx, 'readBody', { value: async () => Buffer.from(body) });
  return ctx;
}

function rfcRequest(example: V.SignedExample, tamper: (h: [string, string][]) => void = () => undefined, body = V.TEST_REQUEST.body): RequestContext {
  const headers: [string, string][] = [...V.TEST_REQUEST.headers.map(([n, v]) => [n, v] as [string, string]), ['Signature-Input', example.signatureInput], ['Signature', example.signature]];
  tamper(headers);
  return context(V.TEST_REQUEST.method, V.TEST_REQUEST.target, headers, body);
}

async function verdict(a: ReturnType<typeof authenticator>, ctx: RequestContext): Promise<string | Identity> {
  try {
    const identity = await a.authenticate(ctx);
    return identity ?? 'none';
  } catch (error) {
    assert.ok(error instanceof GatewayError, `only GatewayErrors escape (got ${String(error)})`);
    if (error.code !== 'invalid_token') return error.code;
    return ctx.notes.authFailure?.reason ?? 'invalid_token';
  }
}

test('RFC 9421 B.2.1, B.2.2, B.2.3, B.2.5, B.2.6: the printed signature base is rebuilt byte for byte', () => {
  const message: SignedMessage = {
    method: 'POST',
    scheme: 'https',
    authority: 'example.com',
    target: V.TEST_REQUEST.target,
    headers: Object.fromEntries(V.TEST_REQUEST.headers.map(([n, v]) => [n.toLowerCase(), [v]])),
  };
  for (const example of [V.B21, V.B22, V.B23, V.B25, V.B26]) {
    const member = parseDictionary(example.signatureInput).get(example.label) as InnerList;
    assert.equal(signatureBase(message, coveredComponents(member), member), example.base, example.label);
  }
});

test('RFC 9421 B.2.1, B.2.2, B.2.3, B.2.5, B.2.6 verify through the authenticator with the RFC\'s keys, each as its consumer', async () => {
  for (const [example, consumer] of [[V.B21, 'partner-rsa'], [V.B22, 'partner-rsa'], [V.B23, 'partner-rsa'], [V.B25, 'partner-hmac'], [V.B26, 'partner-ed']] as const) {
    const result = await verdict(authenticator(config()), rfcRequest(example));
    assert.equal(typeof result, 'object', `${example.label}: ${String(result)}`);
    const identity = result as Identity;
    assert.equal(identity.consumer, consumer);
    assert.equal(identity.method, 'signature');
    assert.equal(identity.keyId, example.keyid);
  }
});

test('RFC 9421 B.2.4 (a response, ecdsa-p256-sha256): the library\'s base is the printed one and the pinned P-256 key verifies it', () => {
  const member = parseDictionary(V.B24.signatureInput).get(V.B24.label) as InnerList;
  const fields = member[0].map((item) => serializeItem(item));
  const base = httpbis.formatSignatureBase([...httpbis.createSignatureBase({ fields }, { status: V.TEST_RESPONSE.status, headers: V.TEST_RESPONSE.headers }), ['"@signature-params"', [V.B24.base.split('"@signature-params": ')[1]!]]]);
  assert.equal(base, V.B24.base);
  const key = verificationKey(V.B24.keyid, { consumer: 'c', algorithm: 'ecdsa-p256-sha256', public_key: V.TEST_KEY_ECC_P256, scopes: [] }, 'k');
  const signature = Buffer.from(V.B24.signature.slice(`${V.B24.label}=:`.length, -1), 'base64');
  assert.equal(key.verify(Buffer.from(base), signature), true);
  const flipped = Buffer.from(signature);
  flipped[10]! ^= 1;
  assert.equal(key.verify(Buffer.from(base), flipped), false);
});

test('a changed, removed or reordered covered component, or another body under a covered Content-Digest, is refused', async () => {
  const a = authenticator(config());
  const set = (name: string, value: string) => (h: [string, string][]) => {
    const i = h.findIndex(([n]) => n.toLowerCase() === name);
    h[i] = [h[i]![0], value];
  };
  assert.equal(await verdict(a, rfcRequest(V.B26, set('date', 'Tue, 20 Apr 2021 02:07:56 GMT'))), 'bad_signature');
  assert.equal(await verdict(a, rfcRequest(V.B26, (h) => h.splice(h.findIndex(([n]) => n === 'Content-Type'), 1))), 'component_unavailable');
  const reordered = { ...V.B26, signatureInput: V.B26.signatureInput.replace('("date" "@method"', '("@method" "date"') };
  assert.equal(await verdict(a, rfcRequest(reordered)), 'bad_signature');
  const fewer = { ...V.B26, signatureInput: V.B26.signatureInput.replace(' "content-length"', '') };
  assert.equal(await verdict(a, rfcRequest(fewer)), 'bad_signature');
  // B.2.3 covers content-digest: the signature still verifies over the unchanged field, the body does not match it.
  assert.equal(typeof (await verdict(a, rfcRequest(V.B23))), 'object');
  assert.equal(await verdict(a, rfcRequest(V.B23, () => undefined, '{"hello": "World"}')), 'body_does_not_match_digest');
  const ctx = context('POST', '/foo?param=Value&Pet=dog', [...V.TEST_REQUEST.headers.map(([n, v]) => [n, v] as [string, string]), ['Signature-Input', V.B22.signatureInput], ['Signature', V.B22.signature]], V.TEST_REQUEST.body);
  (ctx as { path: string }).path = '/foo';
  assert.equal(typeof (await verdict(a, ctx)), 'object');
  const otherPet = context('POST', '/foo?param=Value&Pet=cat', [...V.TEST_REQUEST.headers.map(([n, v]) => [n, v] as [string, string]), ['Signature-Input', V.B22.signatureInput], ['Signature', V.B22.signature]], V.TEST_REQUEST.body);
  assert.equal(await verdict(a, otherPet), 'bad_signature');
});

test('required components (config, operations.<id>, x-rampart-signature) must all be covered', async () => {
  assert.equal(await verdict(authenticator(config({ components: ['@method', '@target-uri'] })), rfcRequest(V.B26)), 'required_component_missing');
  assert.equal(typeof (await verdict(authenticator(config({ components: ['@method', '@authority', '@path'] })), rfcRequest(V.B26))), 'object');
  assert.equal(await verdict(authenticator(config({ components: ['@method'] }), AT_CREATED, { 'x-rampart-signature': { components: ['content-digest'] } }), rfcRequest(V.B26)), 'required_component_missing');
  assert.equal(typeof (await verdict(authenticator(config({ components: ['@method'], operations: { op: { components: ['date'] } } }), AT_CREATED, { 'x-rampart-signature': { components: ['content-digest'] } }), rfcRequest(V.B26))), 'object', 'config wins over the spec');
  assert.equal(await verdict(authenticator(config({ require_content_digest: true })), rfcRequest(V.B26)), 'content_digest_not_covered', 'a body must be covered by content-digest');
  assert.throws(() => authenticator(config(), AT_CREATED, { 'x-rampart-signature': { components: ['@status'] } }), ConfigIssueError);
  assert.throws(() => authenticator(config(), AT_CREATED, { 'x-rampart-signature': ['@method'] }), ConfigIssueError);
  assert.throws(() => config({ components: ['Content-Type'] }), /must match pattern/, 'field names are lower case (the schema)');
  assert.throws(() => authenticator(config({ components: ['"@query-param";nam="x"'] })), ConfigIssueError);
});

test('created is required and bounds the age; expires is honoured; both with the clock skew', async () => {
  const unsigned = { ...V.B26, signatureInput: V.B26.signatureInput.replace(';created=1618884473', '') };
  assert.equal(await verdict(authenticator(config()), rfcRequest(unsigned)), 'no_created');
  assert.equal(await verdict(authenticator(config(), (V.EXAMPLE_CREATED + 300 + 5 + 1) * 1000), rfcRequest(V.B26)), 'too_old');
  assert.equal(typeof (await verdict(authenticator(config(), (V.EXAMPLE_CREATED + 300 + 5) * 1000), rfcRequest(V.B26))), 'object');
  assert.equal(await verdict(authenticator(config(), (V.EXAMPLE_CREATED - 6) * 1000), rfcRequest(V.B26)), 'created_in_future');
  assert.equal(typeof (await verdict(authenticator(config(), (V.EXAMPLE_CREATED - 5) * 1000), rfcRequest(V.B26))), 'object');
  // A signature with `expires` (signed by us with the RFC's Ed25519 private key).
  const expiring = signRfcEd25519(`("@method" "@authority");created=${V.EXAMPLE_CREATED};expires=${V.EXAMPLE_CREATED + 10};keyid="test-key-ed25519"`);
  assert.equal(typeof (await verdict(authenticator(config(), (V.EXAMPLE_CREATED + 15) * 1000), expiring())), 'object');
  assert.equal(await verdict(authenticator(config(), (V.EXAMPLE_CREATED + 16) * 1000), expiring()), 'expired');
});

/** A request signed with the RFC's Ed25519 private key over `members` (an inner list with parameters). */
function signRfcEd25519(member: string, extra: [string, string][] = []) {
  return () => {
    const headers: [string, string][] = [['Host', 'example.com'], ...extra];
    const parsed = parseDictionary(`s=${member}`).get('s') as InnerList;
    const message: SignedMessage = { method: 'GET', scheme: 'https', authority: 'example.com', target: '/foo', headers: Object.fromEntries(headers.map(([n, v]) => [n.toLowerCase(), [v]])) };
    const base = signatureBase(message, coveredComponents(parsed), parsed);
    const signature = sign(null, Buffer.from(base), createPrivateKey(V.TEST_KEY_ED25519_PRIVATE)).toString('base64');
    return context('GET', '/foo', [...headers, ['Signature-Input', `s=${member}`], ['Signature', `s=:${signature}:`]]);
  };
}

test('alg is pinned per key: an HMAC made with the public key as its secret is refused, with or without alg', async () => {
  const a = authenticator(config());
  const member = `("@method" "@authority");created=${V.EXAMPLE_CREATED};keyid="test-key-ed25519";alg="hmac-sha256"`;
  const parsed = parseDictionary(`s=${member}`).get('s') as InnerList;
  const message: SignedMessage = { method: 'GET', scheme: 'https', authority: 'example.com', target: '/foo', headers: { host: ['example.com'] } };
  const base = signatureBase(message, coveredComponents(parsed), parsed);
  for (const secret of [V.TEST_KEY_ED25519, Buffer.from(V.TEST_KEY_ED25519.split('\n')[1]!, 'base64')]) {
    const mac = createHmac('sha256', secret).update(base).digest('base64');
    assert.equal(await verdict(a, context('GET', '/foo', [['Host', 'example.com'], ['Signature-Input', `s=${member}`], ['Signature', `s=:${mac}:`]])), 'alg_mismatch');
    const noAlg = member.replace(';alg="hmac-sha256"', '');
    const parsedNoAlg = parseDictionary(`s=${noAlg}`).get('s') as InnerList;
    const mac2 = createHmac('sha256', secret).update(signatureBase(message, coveredComponents(parsedNoAlg), parsedNoAlg)).digest('base64');
    assert.equal(await verdict(a, context('GET', '/foo', [['Host', 'example.com'], ['Signature-Input', `s=${noAlg}`], ['Signature', `s=:${mac2}:`]])), 'bad_signature');
  }
  const rsaAsEd = `("@method");created=${V.EXAMPLE_CREATED};keyid="test-key-ed25519";alg="rsa-pss-sha512"`;
  assert.equal(await verdict(a, context('GET', '/foo', [['Host', 'example.com'], ['Signature-Input', `s=${rsaAsEd}`], ['Signature', 's=:AAAA:']])), 'alg_mismatch');
});

test('unknown key, wrong key, several signatures, label, duplicates and @signature-params in the list are refused', async () => {
  const a = authenticator(config());
  const unknown = { ...V.B26, signatureInput: V.B26.signatureInput.replace('test-key-ed25519', 'nobody') };
  assert.equal(await verdict(a, rfcRequest(unknown)), 'unknown_key');
  const wrongKey = { ...V.B26, signatureInput: V.B26.signatureInput.replace('test-key-ed25519', 'test-key-ecc-p256') };
  assert.equal(await verdict(a, rfcRequest(wrongKey)), 'bad_signature');
  const two = rfcRequest(V.B26, (h) => h.push(['Signature-Input', V.B25.signatureInput], ['Signature', V.B25.signature]));
  assert.equal(await verdict(a, two), 'several_signatures');
  assert.equal(typeof (await verdict(authenticator(config({ label: 'sig-b25' })), rfcRequest(V.B26, (h) => h.push(['Signature-Input', V.B25.signatureInput], ['Signature', V.B25.signature])))), 'object');
  assert.equal(await verdict(authenticator(config({ label: 'other' })), rfcRequest(V.B26)), 'label_missing');
  const dup = { ...V.B26, signatureInput: V.B26.signatureInput.replace('("date"', '("date" "date"') };
  assert.equal(await verdict(a, rfcRequest(dup)), 'bad_component');
  const params = { ...V.B26, signatureInput: V.B26.signatureInput.replace('("date"', '("@signature-params" "date"') };
  assert.equal(await verdict(a, rfcRequest(params)), 'bad_component');
  const trailer = { ...V.B26, signatureInput: V.B26.signatureInput.replace('("date"', '("date";tr') };
  assert.equal(await verdict(a, rfcRequest(trailer)), 'bad_component');
  assert.equal(await verdict(a, rfcRequest(V.B26, (h) => h.splice(h.findIndex(([n]) => n === 'Signature'), 1))), 'incomplete');
});

test('garbage in Signature-Input or Signature is a 401 invalid_token, never another error', async () => {
  const a = authenticator(config());
  const samples = ['', ' ', '=', 'sig=', 'sig=(', 'sig=("@method"', 'sig=:!!:', 'sig=()', 'sig=();created=x', 'sig=();keyid=1', `sig=${'('.repeat(500)}`, 'a'.repeat(9000), '\u00ff\u0000\u0007', 'sig=("@method");keyid="test-key-ed25519";created=1618884473', 'sig=(1 2 3)', 'sig=@1618884473', 'sig=%"x"'];
  for (let i = 0; i < 300; i++) samples.push(randomBytes(1 + (i % 64)).toString('latin1'));
  for (const value of samples) {
    for (const [input, signature] of [[value, V.B26.signature], [V.B26.signatureInput, value], [value, value]]) {
      const ctx = rfcRequest(V.B26, (h) => {
        h[h.findIndex(([n]) => n === 'Signature-Input')] = ['Signature-Input', input!];
        h[h.findIndex(([n]) => n === 'Signature')] = ['Signature', signature!];
      });
      const result = await verdict(a, ctx);
      assert.equal(typeof result, 'string', `garbage accepted: ${JSON.stringify(value)}`);
      assert.notEqual(result, 'none');
    }
  }
});

test('nonces: required by default; a nonce is accepted once per key; the memory cache is bounded', async () => {
  assert.equal(await verdict(authenticator(config({ nonce: 'required' })), rfcRequest(V.B26)), 'no_nonce');
  const a = authenticator(config({ nonce: 'required' }));
  assert.equal(typeof (await verdict(a, rfcRequest(V.B21))), 'object');
  assert.equal(await verdict(a, rfcRequest(V.B21)), 'replayed');
  const cache = new MemoryNonceCache(60_000, 3, 5, () => 0);
  const results: string[] = [];
  for (let i = 0; i < 5; i++) results.push(await cache.remember(undefined, 'k1', `n${i}`));
  assert.deepEqual(results, ['new', 'new', 'new', 'key_over_quota', 'key_over_quota']);
  for (let i = 0; i < 2; i++) assert.equal(await cache.remember(undefined, `other${i}`, 'n'), 'new');
  await assert.rejects(cache.remember(undefined, 'k9', 'n'), (error: unknown) => error instanceof GatewayError && error.code === 'service_unavailable');
  assert.equal(cache.size, 5, 'a flood of distinct nonces never grows the cache past its bound');
  let now = 0;
  const expiring = new MemoryNonceCache(1000, 10, 100, () => now);
  for (let i = 0; i < 100; i++) await expiring.remember(undefined, `k${i}`, 'n');
  now = 1001;
  assert.equal(await expiring.remember(undefined, 'k0', 'n'), 'new', 'expired entries are swept');
  assert.equal(expiring.size, 1);
});

test('key config: HMAC secrets only as references, long enough; keys of the pinned type only', () => {
  const yaml = (key: string) => `listen: { http: { port: 0, host: 127.0.0.1, insecure: true } }
upstreams: { main: { url: "http://127.0.0.1:1" } }
apis:
  - name: p
    upstream: main
    passthrough: true
    auth:
      signatures:
        keys:
          partner-1:
            consumer: partner
            algorithm: hmac-sha256
            ${key}
`;
  assert.throws(
    () => loadConfigText(yaml(`secret: '${V.TEST_SHARED_SECRET}'`), '/tmp/rampart.yaml', {}),
    (error: Error & { issues?: { path: string; message: string }[] }) => error.issues?.some((i) => i.path === 'apis[0].auth.signatures.keys.partner-1.secret' && /literal secret/.test(i.message)) === true,
  );
  const loaded: LoadedConfig = loadConfigText(yaml("secret: '${env:P1}'"), '/tmp/rampart.yaml', { P1: V.TEST_SHARED_SECRET });
  assert.equal(loaded.config.apis[0]!.auth?.signatures?.keys['partner-1']?.secret, V.TEST_SHARED_SECRET);
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'hmac-sha256', secret: Buffer.alloc(16).toString('base64'), scopes: [] }, 'at'), /at least 32/);
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'hmac-sha256', public_key: V.TEST_KEY_ED25519, scopes: [] }, 'at'), ConfigIssueError);
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'ed25519', public_key: V.TEST_KEY_RSA_PSS, scopes: [] }, 'at'), /cannot use/);
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'ecdsa-p256-sha256', public_key: V.TEST_KEY_ED25519, scopes: [] }, 'at'), /cannot use/);
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'ed25519', secret: V.TEST_SHARED_SECRET, scopes: [] }, 'at'), ConfigIssueError);
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.throws(() => verificationKey('k', { consumer: 'c', algorithm: 'rsa-pss-sha512', public_key: small, scopes: [] }, 'at'), /cannot use/);
  const jwk = JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' });
  assert.equal(verificationKey('k', { consumer: 'c', algorithm: 'ed25519', public_key: jwk, scopes: [] }, 'at').algorithm, 'ed25519');
});

test('upstream signer: Ed25519 over the request as sent; the inbound verifier accepts it; the schema type agrees', async () => {
  assert.equal(upstreamTypeMatches, true);
  const pem = createPrivateKey(V.TEST_KEY_ED25519_PRIVATE).export({ type: 'pkcs8', format: 'pem' }).toString();
  const signer = createUpstreamSigner(upstreamConfig({ enabled: true, keys: [{ keyid: 'test-key-ed25519', private_key: '${env:K}' }] }, pem), 'at', { now: () => AT_CREATED, nonce: () => 'n-1' });
  const headers = { 'content-type': 'application/json', 'x-rampart-identity': 'eyJ.x.y', 'content-length': '2' };
  const out = signer.sign({ method: 'POST', scheme: 'http', authority: 'example.com:80', target: '/foo?a=1', headers });
  assert.equal(out['signature-input'], `rampart=("@method" "@authority" "@path" "@query" "content-type" "x-rampart-identity");created=${V.EXAMPLE_CREATED + 2};expires=${V.EXAMPLE_CREATED + 62};keyid="test-key-ed25519";alg="ed25519";nonce="n-1"`);
  const a = authenticator(config({ components: ['@method', '@authority', '@path', '@query', 'x-rampart-identity'] }));
  const ctx = context('POST', '/foo?a=1', [['Host', 'example.com'], ['Content-Type', 'application/json'], ['X-Rampart-Identity', 'eyJ.x.y'], ['Signature-Input', out['signature-input']!], ['Signature', out['signature']!]], '{}', false);
  const result = await verdict(a, ctx);
  assert.equal(typeof result, 'object', String(result));
  assert.throws(() => createUpstreamSigner(upstreamConfig({ enabled: true }), 'at'), ConfigIssueError);
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  assert.throws(() => createUpstreamSigner(upstreamConfig({ enabled: true, keys: [{ keyid: 'k', private_key: '${env:K}' }] }, p256), 'at'), /Ed25519/);
});

/* ------------------------------------------------------------------ store-backed keys (store_keys: true) */

/** A store holding only signature keys and consumers (what StoreSignatureKeys reads), counting its queries. */
function fakeStore(records: SignatureKeyRecord[], consumers: string[] = ['partner-ed']) {
  const calls = { keys: 0, consumers: 0 };
  let failing = false;
  const byId = new Map(records.map((r) => [r.keyid, r]));
  const store = {
    async getSignatureKey(keyid: string) {
      calls.keys++;
      if (failing) throw new Error('connection refused');
      return byId.get(keyid);
    },
    async getConsumer(id: string) {
      calls.consumers++;
      if (failing) throw new Error('connection refused');
      return consumers.includes(id) ? ({ id, name: id, tenant: 'acme', roles: ['partner'], groups: [], plan: null, metadata: {}, createdAt: 0, updatedAt: 0 } satisfies Consumer) : undefined;
    },
  } as unknown as Store;
  return { store, calls, byId, fail: (on: boolean) => void (failing = on) };
}
const storedEd = (extra: Partial<SignatureKeyRecord> = {}): SignatureKeyRecord => ({ keyid: 'test-key-ed25519', consumerId: 'partner-ed', algorithm: 'ed25519', publicKey: V.TEST_KEY_ED25519, secret: null, createdAt: 0, revokedAt: null, ...extra });
const storeConfig = () => withSchemaDefaults<SignatureAuthConfig>(signatureAuthSchema, { store_keys: true, components: [], nonce: 'optional', require_content_digest: false });

test('store keys: a keyid not in config is looked up in the store; the record pins the algorithm; the consumer is the identity', async () => {
  const fake = fakeStore([storedEd()]);
  const directory = new StoreSignatureKeys(fake.store, undefined, { now: () => AT_CREATED });
  const a = authenticator(storeConfig(), AT_CREATED, {}, 'op', { signatureKeys: directory });
  const identity = (await verdict(a, rfcRequest(V.B26))) as Identity;
  assert.equal(typeof identity, 'object');
  assert.deepEqual([identity.consumer, identity.tenant, identity.roles, identity.keyId], ['partner-ed', 'acme', ['partner'], 'test-key-ed25519']);
  const asHmac = `("@method" "@authority");created=${V.EXAMPLE_CREATED};keyid="test-key-ed25519";alg="hmac-sha256"`;
  assert.equal(await verdict(a, context('GET', '/foo', [['Host', 'example.com'], ['Signature-Input', `s=${asHmac}`], ['Signature', 's=:AAAA:']])), 'alg_mismatch');
  assert.equal(fake.calls.keys, 1, 'cached');
  // Off by default: without store_keys an API needs config keys, and a keyid not among them is never looked up.
  assert.throws(() => authenticator(withSchemaDefaults<SignatureAuthConfig>(signatureAuthSchema, {}), AT_CREATED, {}, 'op', { signatureKeys: directory }), (e: unknown) => e instanceof ConfigIssueError && /keys/.test(e.message));
  assert.throws(() => authenticator(storeConfig()), (e: unknown) => e instanceof ConfigIssueError && /store_keys/.test(e.message), 'store_keys without a store is a start-up error');
});

test('store keys: revoked, consumer gone, or unusable material are refused; a store failure is a 503, never a pass', async () => {
  const fake = fakeStore([storedEd({ revokedAt: 5 })]);
  const a = authenticator(storeConfig(), AT_CREATED, {}, 'op', { signatureKeys: new StoreSignatureKeys(fake.store, undefined) });
  assert.equal(await verdict(a, rfcRequest(V.B26)), 'store_key_revoked');
  const gone = fakeStore([storedEd()], []);
  assert.equal(await verdict(authenticator(storeConfig(), AT_CREATED, {}, 'op', { signatureKeys: new StoreSignatureKeys(gone.store, undefined) }), rfcRequest(V.B26)), 'store_key_no_consumer');
  const swapped = fakeStore([storedEd({ publicKey: V.TEST_KEY_RSA_PSS })]);
  assert.equal(await verdict(authenticator(storeConfig(), AT_CREATED, {}, 'op', { signatureKeys: new StoreSignatureKeys(swapped.store, undefined) }), rfcRequest(V.B26)), 'store_key_unusable');
  const down = fakeStore([storedEd()]);
  down.fail(true);
  assert.equal(await verdict(authenticator(storeConfig(), AT_CREATED, {}, 'op', { signatureKeys: new StoreSignatureKeys(down.store, undefined) }), rfcRequest(V.B26)), 'service_unavailable');
});

test('store keys cache: TTL, bus invalidation (key and consumer), negative cache, coalescing, and the miss budget', async () => {
  let now = 1_000_000;
  const fake = fakeStore([storedEd()]);
  const bus = new LocalBus();
  const keys = new StoreSignatureKeys(fake.store, bus, { now: () => now, ttlMs: 5000, negativeTtlMs: 5000, missesPerSecond: 10, maxNegativeEntries: 100 });
  assert.equal((await keys.find('test-key-ed25519')).ok, true);
  now += 4000;
  await keys.find('test-key-ed25519');
  assert.equal(fake.calls.keys, 1, 'within the TTL: no query');
  now += 1001;
  await keys.find('test-key-ed25519');
  assert.equal(fake.calls.keys, 2, 'past the TTL: asked again');
  // A revocation published on the bus is seen on the next lookup, TTL or not.
  fake.byId.set('test-key-ed25519', storedEd({ revokedAt: now }));
  await bus.publish({ signatureKeyId: 'test-key-ed25519' });
  assert.deepEqual(await keys.find('test-key-ed25519'), { ok: false, reason: 'revoked' });
  fake.byId.set('test-key-ed25519', storedEd());
  await bus.publish({ consumerId: 'partner-ed' });
  assert.equal((await keys.find('test-key-ed25519')).ok, true, 'a consumer change drops its keys too');
  // Unknown keyids: remembered, and concurrent lookups of one keyid share one query.
  const before = fake.calls.keys;
  await Promise.all(Array.from({ length: 20 }, () => keys.find('nobody')));
  await keys.find('nobody');
  assert.equal(fake.calls.keys - before, 1);
  // A key created later: the bus drops the negative entry.
  fake.byId.set('nobody', storedEd({ keyid: 'nobody' }));
  await bus.publish({ signatureKeyId: 'nobody' });
  assert.equal((await keys.find('nobody')).ok, true);
  // A flood of invented keyids: at most the budget (10, refilled 10/s) reaches the store.
  now += 10_000;
  const flood = await Promise.all(Array.from({ length: 100 }, (_, i) => keys.find(`invented-${i}`)));
  assert.equal(flood.filter((v) => !v.ok && v.reason === 'lookup_budget').length, 90);
  now += 6000; // past the TTL of the known key, budget refilled by the clock…
  for (let i = 0; i < 10; i++) await keys.find(`invented-more-${i}`); // …and spent again
  assert.deepEqual(await keys.find('invented-more-x'), { ok: false, reason: 'lookup_budget' });
  assert.equal((await keys.find('test-key-ed25519')).ok, true, 'a known key is refreshed outside the budget');
  // A failing store rejects (the caller fails closed) and caches nothing.
  now += 6000;
  fake.fail(true);
  await assert.rejects(keys.find('test-key-ed25519'), /connection refused/);
  fake.fail(false);
  assert.equal((await keys.find('test-key-ed25519')).ok, true);
});
