/**
 * Red team of the inbound HTTP Message Signatures verifier (RFC 9421, src/policies/authn-signature): its CPU cost and
 * robustness against an anonymous client, through a real gateway in front of a real upstream. Every attack must be a
 * 401 problem (RFC 9457) that never reaches the upstream, with the gateway still answering /readyz. Where CPU
 * matters the bound asserted is on work, not time: the signature bases built (http-message-signatures'
 * `createSignatureBase`, which the verifier calls once per base) and the signature verifications node:crypto ran,
 * both counted in this process (the gateway runs in it), and the store lookups of the key directory.
 */
import assert from 'node:assert/strict';
import crypto, { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { createSigner, httpbis } from 'http-message-signatures';
import { parseDictionary, type InnerList } from 'structured-headers';
import { coveredComponents, signatureBase, type SignedMessage } from '../../src/policies/authn-signature/components.ts';
import { StoreSignatureKeys } from '../../src/policies/authn-signature/store-keys.ts';
import type { Store } from '../../src/store/types.ts';
import { ADMIN_CONFIG, ADMIN_TOKEN, TEST_ENV, adminCall } from '../helpers/apikeys.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/gateway-fixtures.ts';
import { assertAlive, assertProblem } from '../helpers/http.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { PARTNER_ORDERS_SPEC } from '../helpers/signature-spec.ts';


const partner = generateKeyPairSync('ed25519');
const storePartner = generateKeyPairSync('ed25519');
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const KEY = { consumer: 'partner-ed', algorithm: 'ed25519', public_key: '${file:p.pub}' };

/* Work counters: every signature verification node:crypto runs over an RFC 9421 signature base, every base built. */
const work = { verifies: 0, bases: 0 };
const originalVerify = crypto.verify;
const originalBase = httpbis.createSignatureBase;
function countWork(): void {
  crypto.verify = function (this: unknown, ...args: Parameters<typeof originalVerify>) {
    const data = args[1];
    if (Buffer.isBuffer(data) && data.includes('"@signature-params": ')) work.verifies++;
    return (originalVerify as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof originalVerify;
  // keys.ts imports `verify` from node:crypto: its live binding follows the module object once synced.
  syncBuiltinESMExports();
  httpbis.createSignatureBase = ((...args: Parameters<typeof originalBase>) => {
    work.bases++;
    return originalBase(...args);
  }) as typeof originalBase;
}
function restoreWork(): void {
  crypto.verify = originalVerify;
  syncBuiltinESMExports();
  httpbis.createSignatureBase = originalBase;
}

/** Counts the URLSearchParams this process builds (components.ts parses and encodes query parameters with them). */
function countingURLSearchParams(): { readonly count: number; restore(): void } {
  const Original = globalThis.URLSearchParams;
  const counter = { count: 0, restore: () => void (globalThis.URLSearchParams = Original) };
  globalThis.URLSearchParams = class extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      counter.count++;
    }
  };
  return counter;
}

const b64 = (bytes: number) => randomBytes(bytes).toString('base64');
const now = () => Math.floor(Date.now() / 1000);

describe('signature verification under a flood of hostile signatures', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let host = '';

  before(async () => {
    up = await startUpstream();
    const auth = (signatures: Record<string, unknown>) => ({ failure_backoff: { enabled: false }, signatures: { keys: { 'p-ed': KEY }, ...signatures } });
    gw = await startGateway(
      {
        upstreams: { main: { url: up.url } },
        // Incident response would otherwise block 127.0.0.1 part-way through the floods.
        monitor: { enabled: false },
        admin: ADMIN_CONFIG,
        apis: [
          // One signature per request (no label), config keys and the store's.
          { name: 'open', spec: './p.yaml', base_path: '/o', upstream: 'main', auth: auth({ store_keys: true }) },
          // The label `sig1` is the one verified; other members are ignored.
          { name: 'labelled', spec: './p.yaml', base_path: '/l', upstream: 'main', auth: auth({ label: 'sig1' }) },
        ],
      },
      { files: { 'p.yaml': PARTNER_ORDERS_SPEC, 'p.pub': pem(partner.publicKey) }, env: TEST_ENV },
    );
    host = new URL(gw.url).host;
    countWork();
  });
  after(async () => {
    restoreWork();
    await gw?.close();
    await up?.close();
  });

  const lookups = () => (gw.gateway.services.signatureKeys as StoreSignatureKeys).lookups;

  /** A valid signature by the library's signer over `@method @target-uri` (or `fields`), as a partner makes it. */
  async function signed(path: string, options: { keyid?: string; key?: KeyObject; label?: string; created?: number; expires?: number; fields?: string[]; headers?: Record<string, string> } = {}): Promise<Record<string, string>> {
    const params = ['created', 'keyid', 'nonce', ...(options.expires !== undefined ? ['expires'] : [])];
    const message = await httpbis.signMessage(
      {
        key: createSigner(options.key ?? partner.privateKey, 'ed25519', options.keyid ?? 'p-ed'),
        ...(options.label ? { name: options.label } : {}),
        fields: options.fields ?? ['@method', '@target-uri'],
        params,
        paramValues: { created: new Date((options.created ?? now()) * 1000), nonce: randomUUID(), ...(options.expires !== undefined ? { expires: new Date(options.expires * 1000) } : {}) },
      },
      { method: 'GET', url: `${gw.url}${path}`, headers: { host, ...options.headers } },
    );
    return message.headers as Record<string, string>;
  }

  /** A Signature-Input member by hand (keyid p-ed, fresh created, a nonce) and 64 random bytes as its signature. */
  const forged = (label: string, components: string, extra = '') => ({ input: `${label}=(${components});created=${now()};keyid="p-ed";nonce="${randomUUID()}"${extra}`, signature: `${label}=:${b64(64)}:` });

  /**
   * Sends one request and asserts the refusal: 401 `invalid_token` problem, the logged reason, the upstream not
   * reached, and the work it cost (signature bases built, signatures verified, store lookups).
   */
  async function refused(path: string, headers: Record<string, string>, reason: string, cost: { bases: number; verifies: number; lookups?: number }): Promise<void> {
    const before = { ...work, lookups: lookups(), seen: up.seen.length };
    const res = await send(gw.url, path, { headers: { host, ...headers } });
    const problem = assertProblem(res, 401, 'invalid_token');
    const logged = gw.logs.find((l) => l['requestId'] === problem['requestId'] && l['reason'] !== undefined)?.['reason'];
    assert.equal(logged, `message signature rejected: ${reason}`, `reason of ${path}`);
    assert.equal(up.seen.length, before.seen, 'the upstream was not reached');
    assert.equal(work.bases - before.bases, cost.bases, `signature bases built for ${reason}`);
    assert.equal(work.verifies - before.verifies, cost.verifies, `signatures verified for ${reason}`);
    if (cost.lookups !== undefined) assert.equal(lookups() - before.lookups, cost.lookups, `store lookups for ${reason}`);
  }

  test('control: a valid signature costs one base and one verification, and passes', async () => {
    const headers = await signed('/o/orders/1');
    const before = { ...work };
    const res = await send(gw.url, '/o/orders/1', { headers });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual([work.bases - before.bases, work.verifies - before.verifies], [1, 1]);
  });

  test('a flood of distinct unknown keyids: no base, no verification, store lookups within the budget, the gateway answers', async () => {
    // Config keys only (`labelled`): an unknown keyid is refused at once, no lookup.
    for (let i = 0; i < 20; i++) {
      const { input, signature } = forged('sig1', '"@method" "@target-uri"');
      await refused('/l/orders/1', { 'signature-input': input.replace('"p-ed"', `"nobody-${i}"`), signature }, 'unknown_key', { bases: 0, verifies: 0, lookups: 0 });
    }
    // Keyids the store cannot hold (too long, not the keyid syntax) never reach it.
    for (const keyid of ['x'.repeat(5000), 'a b', '../../etc', '', '-leading-dash']) {
      const { input, signature } = forged('sig', '"@method"');
      await refused('/o/orders/1', { 'signature-input': input.replace('"p-ed"', JSON.stringify(keyid)), signature }, 'unknown_key', { bases: 0, verifies: 0, lookups: 0 });
    }
    // Store keys (`open`): 400 invented keyids, 50 at a time.
    const before = { ...work, lookups: lookups(), seen: up.seen.length };
    const started = Date.now();
    const reasons = new Map<string, number>();
    for (let i = 0; i < 400; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const { input, signature } = forged('sig', '"@method" "@target-uri"');
          return send(gw.url, '/o/orders/1', { headers: { host, 'signature-input': input.replace('"p-ed"', `"invented-${i + j}-${randomBytes(4).toString('hex')}"`), signature } });
        }),
      );
      for (const res of batch) {
        const problem = assertProblem(res, 401, 'invalid_token');
        const reason = String(gw.logs.find((l) => l['requestId'] === problem['requestId'] && l['reason'] !== undefined)?.['reason']);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    const made = lookups() - before.lookups;
    assert.deepEqual([...reasons.keys()].sort(), ['message signature rejected: unknown_key', 'message signature rejected: unknown_key_lookup_budget'].filter((r) => reasons.has(r)));
    assert.ok(made <= 50 + Math.ceil(seconds * 50) + 1, `${made} store lookups for 400 invented keyids in ${seconds.toFixed(1)} s (budget 50 + 50/s)`);
    assert.deepEqual([work.bases - before.bases, work.verifies - before.verifies], [0, 0], 'an unknown keyid costs no base and no verification');
    assert.equal(up.seen.length, before.seen);
    // One unknown keyid again and again: looked up once, then remembered.
    await new Promise((r) => setTimeout(r, 1100)); // the budget refills
    const repeated = `invented-repeat-${randomBytes(4).toString('hex')}`;
    const first = lookups();
    for (let i = 0; i < 20; i++) {
      const { input, signature } = forged('sig', '"@method"');
      await refused('/o/orders/1', { 'signature-input': input.replace('"p-ed"', `"${repeated}"`), signature }, 'unknown_key', { bases: 0, verifies: 0 });
    }
    assert.equal(lookups() - first, 1, 'the negative cache answers the repeats');
    // The known partner is unaffected.
    assert.equal((await send(gw.url, '/o/orders/1', { headers: await signed('/o/orders/1') })).status, 200);
    await assertAlive(gw.adminUrl, 2000);
  });

  test('the negative cache is bounded: the oldest unknown keyids are forgotten, not kept without limit', async () => {
    // The directory itself, on a store that knows no key, with a small bound and no miss budget in the way.
    let queries = 0;
    const store = { getSignatureKey: async () => (queries++, undefined), getConsumer: async () => undefined } as unknown as Store;
    const keys = new StoreSignatureKeys(store, undefined, { now: () => 1_000_000, maxNegativeEntries: 100, missesPerSecond: 1_000_000 });
    for (let i = 0; i < 1000; i++) assert.deepEqual(await keys.find(`flood-${i}`), { ok: false, reason: 'unknown' });
    assert.equal(queries, 1000);
    for (let i = 900; i < 1000; i++) await keys.find(`flood-${i}`);
    assert.equal(queries, 1000, 'the newest 100 are remembered');
    await keys.find('flood-0');
    assert.equal(queries, 1001, 'the oldest was dropped: at most maxNegativeEntries are held');
  });

  test('a revoked store key: refused without a base or a verification, and without a store query per request', async () => {
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers', ADMIN_TOKEN, { id: 'store-partner', name: 'S' })).status, 201);
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/consumers/store-partner/signature-keys', ADMIN_TOKEN, { keyid: 'store-ed', algorithm: 'ed25519', public_key: pem(storePartner.publicKey) })).status, 201);
    assert.equal((await send(gw.url, '/o/orders/1', { headers: await signed('/o/orders/1', { keyid: 'store-ed', key: storePartner.privateKey }) })).status, 200);
    assert.equal((await adminCall(gw.adminUrl, 'POST', '/signature-keys/store-ed/revoke', ADMIN_TOKEN)).status, 200);
    const first = lookups();
    for (let i = 0; i < 20; i++) {
      await refused('/o/orders/1', await signed('/o/orders/1', { keyid: 'store-ed', key: storePartner.privateKey }), 'store_key_revoked', { bases: 0, verifies: 0 });
    }
    assert.ok(lookups() - first <= 1, `${lookups() - first} store lookups for 20 requests with a revoked key`);
    await assertAlive(gw.adminUrl, 2000);
  });

  test('created / expires outside the window are refused before any base is built or signature verified', async () => {
    const t = now();
    const cases: [string, Record<string, string>][] = [
      ['too_old', await signed('/o/orders/1', { created: t - 400 })],
      ['created_in_future', await signed('/o/orders/1', { created: t + 120 })],
      ['expired', await signed('/o/orders/1', { created: t - 30, expires: t - 20 })],
      ['malformed_expires', await signed('/o/orders/1', { created: t, expires: t - 1 })],
    ];
    const { input, signature } = forged('sig', '"@method" "@target-uri"');
    cases.push(['no_created', { 'signature-input': input.replace(/;created=\d+/, ''), signature }]);
    cases.push(['no_created', { 'signature-input': input.replace(/;created=\d+/, ';created="yesterday"'), signature }]);
    cases.push(['no_created', { 'signature-input': input.replace(/;created=\d+/, `;created=${t}.5`), signature }]);
    cases.push(['malformed_expires', { 'signature-input': `${input};expires=9.5`, signature }]);
    for (const [reason, headers] of cases) await refused('/o/orders/1', headers, reason, { bases: 0, verifies: 0 });
    await assertAlive(gw.adminUrl, 2000);
  });

  test('very many labels: without a configured label none is verified; with one, only that label is, once', async () => {
    const decoys = Array.from({ length: 80 }, (_, i) => forged(`d${i}`, '"@method"'));
    const input = decoys.map((d) => d.input).join(', ');
    const signature = decoys.map((d) => d.signature).join(', ');
    assert.ok(input.length < 8192 && signature.length < 8192);
    await refused('/o/orders/1', { 'signature-input': input, signature }, 'several_signatures', { bases: 0, verifies: 0 });
    // `labelled`: 80 decoys around a valid sig1 — one verification, accepted.
    const valid = await signed('/l/orders/1', { label: 'sig1' });
    const before = { ...work };
    const res = await send(gw.url, '/l/orders/1', { headers: { host, 'signature-input': `${input}, ${valid['Signature-Input']!}`, signature: `${signature}, ${valid['Signature']!}` } });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual([work.bases - before.bases, work.verifies - before.verifies], [1, 1], 'the decoys cost nothing');
    // The decoys alone: the configured label is missing.
    await refused('/l/orders/1', { 'signature-input': input, signature }, 'label_missing', { bases: 0, verifies: 0 });
    // A forged sig1 among them: one verification, refused.
    const fake = forged('sig1', '"@method" "@target-uri"');
    await refused('/l/orders/1', { 'signature-input': `${input}, ${fake.input}`, signature: `${signature}, ${fake.signature}` }, 'bad_signature', { bases: 1, verifies: 1 });
    // Duplicated dictionary keys: the last member wins (RFC 8941 §4.2.2), still one verification.
    await refused('/l/orders/1', { 'signature-input': `${fake.input}, ${forged('sig1', '"@target-uri" "@method"').input}`, signature: `${fake.signature}, ${forged('sig1', '').signature}` }, 'bad_signature', { bases: 1, verifies: 1 });
    await assertAlive(gw.adminUrl, 2000);
  });

  test('very many, huge, duplicated or invalid covered components are refused before the signature is verified', async () => {
    const many = Array.from({ length: 33 }, (_, i) => `"x-h${i}"`).join(' ');
    const headers33 = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x-h${i}`, 'v']));
    const cases: [string, string, Record<string, string>, number][] = [
      ['bad_component', many, headers33, 0],
      ['bad_component', '"@method" "@method"', {}, 0],
      ['bad_component', '"x-h1";key="a" "x-h1";key="a"', { 'x-h1': 'a=1' }, 0],
      ['bad_component', '"@signature-params"', {}, 0],
      ['bad_component', '"X-Upper"', { 'x-upper': 'v' }, 0],
      ['bad_component', '"@unknown"', {}, 0],
      ['bad_component', '"x-h1";tr', { 'x-h1': 'v' }, 0],
      ['bad_component', '"x-h1";bs;sf', { 'x-h1': 'v' }, 0],
      ['bad_component', '"@query-param"', {}, 0],
      ['bad_component', '1 2 3', {}, 0],
      // A field name of 7000 characters: a valid token, absent from the request — the base fails, nothing verified.
      ['component_unavailable', `"x-${'a'.repeat(7000)}"`, {}, 1],
      ['component_unavailable', '"x-absent" "@scheme"', {}, 1],
      ['component_unavailable', '"x-h1";key="missing"', { 'x-h1': 'a=1' }, 1],
      ['component_unavailable', '"x-h1";sf', { 'x-h1': '(((' }, 1],
    ];
    for (const [reason, components, extra, bases] of cases) {
      const { input, signature } = forged('sig', `"@method" "@target-uri" ${components}`);
      await refused('/o/orders/1', { ...extra, 'signature-input': input, signature }, reason, { bases, verifies: 0 });
    }
    // 32 components, all present: within the bound, one base and one verification.
    const headers32 = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`x-h${i}`, 'v']));
    const { input, signature } = forged('sig', `"@method" "@target-uri" ${Object.keys(headers32).map((h) => `"${h}"`).join(' ')}`);
    await refused('/o/orders/1', { ...headers32, 'signature-input': input, signature }, 'bad_signature', { bases: 1, verifies: 1 });
    await assertAlive(gw.adminUrl, 2000);
  });

  test('oversized fields: over 8 KiB refused unparsed; over the header limit the listener answers 431', async () => {
    const { input, signature } = forged('sig', '"@method" "@target-uri"');
    await refused('/o/orders/1', { 'signature-input': input, signature: `sig=:${b64(6200)}:` }, 'oversized', { bases: 0, verifies: 0 });
    await refused('/o/orders/1', { 'signature-input': `${input};pad="${'p'.repeat(8200)}"`, signature }, 'oversized', { bases: 0, verifies: 0 });
    // Split over several field lines, the combined field is what is bounded.
    await refused('/o/orders/1', { 'signature-input': input, signature: [signature, ...Array.from({ length: 6 }, (_, i) => `pad${i}=:${b64(1100)}:`)] as unknown as string }, 'oversized', { bases: 0, verifies: 0 });
    // A signature of more than 1024 bytes in a field under the bound.
    await refused('/o/orders/1', { 'signature-input': input, signature: `sig=:${b64(2048)}:` }, 'malformed_signature', { bases: 0, verifies: 0 });
    const seen = up.seen.length;
    const huge = await send(gw.url, '/o/orders/1', { headers: { host, 'signature-input': input, signature: `sig=:${b64(18_000)}:` } });
    assertProblem(huge, 431, 'headers_too_large');
    assert.equal(up.seen.length, seen);
    await assertAlive(gw.adminUrl, 2000);
  });

  test('malformed structured fields are refused before any base or verification, never a 500', async () => {
    const { input, signature } = forged('sig', '"@method" "@target-uri"');
    const cases: [string, string, string][] = [
      ['malformed_signature_input', 'sig=(', signature],
      ['malformed_signature_input', 'sig=("@method";created=1', signature],
      ['malformed_signature_input', `sig=${'('.repeat(4000)}`, signature],
      ['malformed_signature_input', `sig=("@method")${';a=1'.repeat(1500)};a=`, signature],
      ['malformed_signature_input', 'SIG=("@method")', signature],
      ['malformed_signature_input', `sig="@method";created=${now()};keyid="p-ed"`, signature],
      ['malformed_signature', input, 'sig=:not base64!:'],
      ['malformed_signature', input, 'sig=:AAAA'],
      ['malformed_signature', input, 'sig=token'],
      ['malformed_signature', input, `sig=(:${b64(64)}:)`],
      ['malformed_signature', input, 'sig=::'],
      ['malformed_signature', input, `sig="${b64(64)}"`],
      ['no_keyid', input.replace(/;keyid="p-ed"/, ''), signature],
      ['no_keyid', input.replace(/;keyid="p-ed"/, ';keyid=p-ed'), signature],
      ['no_keyid', input.replace(/;keyid="p-ed"/, ';keyid=1'), signature],
      ['alg_mismatch', `${input};alg="hmac-sha256"`, signature],
      ['malformed_nonce', input.replace(/;nonce="[^"]+"/, `;nonce="${'n'.repeat(300)}"`), signature],
      ['malformed_nonce', input.replace(/;nonce="[^"]+"/, ';nonce=1'), signature],
      ['no_nonce', input.replace(/;nonce="[^"]+"/, ''), signature],
      ['label_missing', input, signature.replace(/^sig=/, 'other=')],
      ['incomplete', input, ''],
    ];
    for (const [reason, i, s] of cases) {
      const headers: Record<string, string> = s === '' ? { 'signature-input': i } : { 'signature-input': i, signature: s };
      await refused('/o/orders/1', headers, reason, { bases: 0, verifies: 0 });
    }
    await assertAlive(gw.adminUrl, 2000);
  });

  test('parse amplification: 32 dictionary keys of one big field, 32 query parameters over a long query — one base, one verification', async () => {
    // Anyone who knows a keyid (keyids are not secret) can make the gateway build a base; each covered
    // component must not re-read its whole source.
    const dict = Array.from({ length: 1400 }, (_, i) => `k${i}=${i}`).join(', ').slice(0, 11_000).replace(/, [^,]*$/, '');
    const keysOf = Array.from({ length: 30 }, (_, i) => `"x-dict";key="k${i}"`).join(' ');
    const a = forged('sig', `"@method" "@target-uri" ${keysOf}`);
    await refused('/o/orders/1', { 'x-dict': dict, 'signature-input': a.input, signature: a.signature }, 'bad_signature', { bases: 1, verifies: 1 });
    const query = Array.from({ length: 2000 }, (_, i) => `q${i % 30}=v`).join('&').slice(0, 7900).replace(/&[^&]*$/, '');
    const params = Array.from({ length: 30 }, (_, i) => `"@query-param";name="q${i}"`).join(' ');
    const b = forged('sig', `"@method" "@target-uri" ${params}`);
    const built = countingURLSearchParams();
    try {
      await refused(`/o/orders/1?${query}`, { 'signature-input': b.input, signature: b.signature }, 'bad_signature', { bases: 1, verifies: 1 });
    } finally {
      built.restore();
    }
    // The query is parsed once for the base (not once per component, nor a URLSearchParams per name and value).
    assert.ok(built.count <= 10, `${built.count} URLSearchParams built for one request over a ${query.split('&').length}-parameter query`);
    await assertAlive(gw.adminUrl, 2000);
  });
});

describe('the signature base reads each source once, whatever the number of components over it', () => {
  /** A message whose header reads are counted per field name. */
  function counted(target: string, headers: Record<string, string[]>): { message: SignedMessage; reads: Map<string, number> } {
    const reads = new Map<string, number>();
    const proxied = new Proxy(headers, {
      get(object, name, receiver) {
        if (typeof name === 'string') reads.set(name, (reads.get(name) ?? 0) + 1);
        return Reflect.get(object, name, receiver) as unknown;
      },
    });
    return { message: { method: 'GET', scheme: 'http', authority: 'gw.example', target, headers: proxied }, reads };
  }
  const member = (components: string): InnerList => parseDictionary(`sig=(${components});created=1;keyid="k"`).get('sig') as InnerList;

  test('32 `key` components over one dictionary field: the field is read (and parsed) once', () => {
    const dict = Array.from({ length: 1000 }, (_, i) => `k${i}=${i}`).join(', ');
    const m = member(Array.from({ length: 32 }, (_, i) => `"x-dict";key="k${i}"`).join(' '));
    const { message, reads } = counted('/', { 'x-dict': [dict] });
    const base = signatureBase(message, coveredComponents(m), m);
    assert.match(base, /^"x-dict";key="k0": 0\n"x-dict";key="k1": 1\n/);
    assert.equal(reads.get('x-dict'), 1, `x-dict read ${reads.get('x-dict')} times for 32 components`);
    const sf = member('"x-dict";sf "x-dict";key="k5" "x-dict";key="k999";sf');
    const again = counted('/', { 'x-dict': [dict] });
    signatureBase(again.message, coveredComponents(sf), sf);
    assert.equal(again.reads.get('x-dict'), 1);
  });

  test('32 `@query-param` components over a long query: each parameter is decoded and encoded once', () => {
    const query = Array.from({ length: 2000 }, (_, i) => `q${i % 32}=v${i}`).join('&');
    const m = member(Array.from({ length: 32 }, (_, i) => `"@query-param";name="q${i}"`).join(' '));
    const { message } = counted(`/orders?${query}`, {});
    const built = countingURLSearchParams();
    let base: string;
    try {
      base = signatureBase(message, coveredComponents(m), m);
    } finally {
      built.restore();
    }
    const constructed = built.count;
    assert.equal(base.split('\n').length, 2001, 'every value of every covered parameter, and the parameters line');
    assert.ok(base.startsWith('"@query-param";name="q0": v0\n"@query-param";name="q0": v32\n'));
    // Before: the query was parsed again for each component, and every name encoded through a URLSearchParams of its own.
    assert.ok(constructed <= 2, `${constructed} URLSearchParams built for one base over a 2000-parameter query`);
  });

  test('query values are form-encoded as the WHATWG serialiser does, for every character of the first 1024 code points and beyond', () => {
    const values = [...Array.from({ length: 1024 }, (_, i) => String.fromCodePoint(i)), '\u{1F600}', '\uFFFD', 'a b+c&d=e', ''];
    const target = `/o?${values.map((v) => `q=${encodeURIComponent(v)}`).join('&')}`;
    const m = member('"@query-param";name="q"');
    const lines = signatureBase(counted(target, {}).message, coveredComponents(m), m).split('\n').slice(0, -1);
    const whatwg = (v: string) => new URLSearchParams([['', v]]).toString().slice(1).replaceAll('+', '%20');
    assert.deepEqual(lines, values.map((v) => `"@query-param";name="q": ${whatwg(v)}`));
  });

  test('the structured-field and query serialisations are RFC 9421\'s (§2.1.1, §2.1.2, §2.2.8) and the library\'s', () => {
    const headers = { 'example-dict': [' a=1,    b=2;x=1;y=2,   c=(a   b   c)', 'd'], 'example-list': ['(a b), c;x=1'], 'example-item': [' :AAEC: '] };
    const m = member('"example-dict";sf "example-dict";key="a" "example-dict";key="b" "example-dict";key="c" "example-dict";key="d" "example-list";sf "example-item";sf "@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20" "@query-param";name="q"');
    const target = '/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&q=a+b%21%27%28%29%7E*-._';
    const { message } = counted(target, headers);
    const ours = signatureBase(message, coveredComponents(m), m);
    assert.equal(
      ours.split('\n').slice(0, -1).join('\n'),
      [
        '"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c), d',
        '"example-dict";key="a": 1',
        '"example-dict";key="b": 2;x=1;y=2',
        '"example-dict";key="c": (a b c)',
        '"example-dict";key="d": ?1',
        '"example-list";sf: (a b), c;x=1',
        '"example-item";sf: :AAEC:',
        '"@query-param";name="var": this%20is%20a%20big%0Avalue',
        '"@query-param";name="bar": with%20plus%20whitespace',
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
        '"@query-param";name="q": a%20b%21%27%28%29%7E*-._',
      ].join('\n'),
    );
    // The library's own extraction of the same fields (it handles sf and key itself) agrees.
    const fields = ['"example-dict";sf', '"example-dict";key="b"', '"example-dict";key="c"', '"example-list";sf', '"example-item";sf'];
    const library = httpbis.formatSignatureBase(httpbis.createSignatureBase({ fields }, { method: 'GET', url: `http://gw.example${target}`, headers }));
    assert.equal(library, ours.split('\n').filter((l) => fields.some((f) => l.startsWith(`${f}:`))).join('\n'));
  });
});
