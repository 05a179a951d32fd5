import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FromSchema } from 'json-schema-to-ts';
import { withSchemaDefaults } from '../../config/defaults.ts';
import type { PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { createContentDigestPolicy } from './index.ts';
import { contentDigestSchema, type ContentDigestConfig } from './schema.ts';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };
const typeMatchesSchema: Same<Mutable<ContentDigestConfig>, FromSchema<typeof contentDigestSchema>> = true;

// RFC 9530 appendix B.1: the body {"hello": "world"} and its digests.
const RFC_BODY = '{"hello": "world"}';
const RFC_SHA256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
const RFC_SHA512 = 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';

const config = (given: Record<string, unknown> = {}) => withSchemaDefaults<ContentDigestConfig>(contentDigestSchema, given);
const input = (raw: Record<string, unknown> = {}) => ({ operationId: 'op', operation: { raw }, maxBodyBytes: 1024 }) as unknown as PolicyBuildInput;
const request = (headers: Record<string, string>, body?: string) =>
  ({ headers, hasBody: body !== undefined && body.length > 0, readBody: async () => Buffer.from(body ?? '') }) as unknown as RequestContext;

async function verdict(headers: Record<string, string>, body?: string, cfg = config(), raw: Record<string, unknown> = {}): Promise<string> {
  const policy = createContentDigestPolicy(input(raw), cfg);
  if (!policy) return 'no policy';
  try {
    await policy.run(request(headers, body));
    return 'pass';
  } catch (error) {
    assert.ok(error instanceof GatewayError, String(error));
    return error.code;
  }
}

test('RFC 9530 appendix B.1 vectors: sha-256 and sha-512, alone, together, in Repr-Digest', async () => {
  assert.equal(typeMatchesSchema, true);
  assert.equal(await verdict({ 'content-digest': RFC_SHA256 }, RFC_BODY), 'pass');
  assert.equal(await verdict({ 'content-digest': RFC_SHA512 }, RFC_BODY), 'pass');
  assert.equal(await verdict({ 'content-digest': `${RFC_SHA512}, ${RFC_SHA256}` }, RFC_BODY), 'pass');
  assert.equal(await verdict({ 'repr-digest': RFC_SHA256 }, RFC_BODY), 'pass');
});

// RFC 9530 appendix B, the other examples: each content as sent (the Brotli-coded one as its coded bytes: a
// Content-Digest covers the content, not the representation) and the digest the RFC gives for it.
const RFC_CONTENTS: readonly (readonly [title: string, content: Buffer, headers: Record<string, string>, field: string])[] = [
  ['no representation data (empty content)', Buffer.alloc(0), {}, 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'],
  ['partial representation data', Buffer.from('"hello"'), {}, 'sha-256=:Wqdirjg/u3J688ejbUlApbjECpiUUtIwT8lY/z81Tno=:'],
  [
    'Brotli-coded content, two algorithms',
    Buffer.from('iwiAeyJoZWxsbyI6ICJ3b3JsZCJ9Aw==', 'base64'),
    { 'content-encoding': 'br' },
    'sha-256=:4REjxQ4yrqUVicfSKYNO/cF9zNj5ANbzgDZt3/h3Qxo=:, sha-512=:pxo7aYzcGI88pnDnoSmAnaOEVys0MABhgvHY9+VI+ElE60jBCwnMPyA/s3NF3ZO5oIWA7lf8ukk+5KJzm3p5og==:',
  ],
  ['POST request', Buffer.from('{"title": "New Title"}'), {}, 'sha-256=:bWopGGNiZtbVgHsG+I4knzfEJpmmmQHf7RHDXA3o1hQ=:'],
  ['resource after PATCH', Buffer.from('{\n  "id": "123",\n  "title": "New Title"\n}'), {}, 'sha-256=:yxOAqEeoj+reqygSIsLpT0LhumrNkIds5uLKtmdLyYE=:'],
  ['request status', Buffer.from('{\n  "status": "created",\n  "id": "123",\n  "ts": 1569327729,\n  "instance": "/books/123"\n}'), {}, 'sha-256=:2LBp5RKZGpsSNf8BPXlXrX4Td4Tf5R5bZ9z7kdi5VvY=:'],
  ['error representation', Buffer.from('{\n  "title": "Not Found",\n  "detail": "Cannot PATCH a non-existent resource",\n  "status": 404\n}'), {}, 'sha-256=:KPqhVXAT25LLitV1w0O167unHmVQusu+fpxm65zAsvk=:'],
];

test('RFC 9530 appendix B vectors: empty, partial, Brotli-coded (sha-256 and sha-512), POST, PATCH and error contents', async () => {
  const policy = createContentDigestPolicy(input(), config())!;
  const run = async (headers: Record<string, string>, content: Buffer) => {
    try {
      await policy.run({ headers, hasBody: content.length > 0, readBody: async () => content } as unknown as RequestContext);
      return 'pass';
    } catch (error) {
      assert.ok(error instanceof GatewayError, String(error));
      return error.code;
    }
  };
  for (const [title, content, headers, field] of RFC_CONTENTS) {
    assert.equal(await run({ ...headers, 'content-digest': field }, content), 'pass', title);
    assert.equal(await run({ ...headers, 'content-digest': field }, Buffer.concat([content, Buffer.from(' ')])), 'digest_invalid', `${title}, one byte added`);
  }
});

test('a body changed after its digest was computed, or one digest of two wrong, is refused', async () => {
  assert.equal(await verdict({ 'content-digest': RFC_SHA256 }, '{"hello": "World"}'), 'digest_invalid');
  assert.equal(await verdict({ 'content-digest': `${RFC_SHA256}, sha-512=:${Buffer.alloc(64).toString('base64')}:` }, RFC_BODY), 'digest_invalid');
  assert.equal(await verdict({ 'content-digest': RFC_SHA256, 'repr-digest': RFC_SHA512.replace('W', 'X') }, RFC_BODY), 'digest_invalid');
  // RFC 8941: the last of duplicate keys counts, for us as for a conforming upstream.
  assert.equal(await verdict({ 'content-digest': `${RFC_SHA256}, sha-256=:${Buffer.alloc(32).toString('base64')}:` }, RFC_BODY), 'digest_invalid');
  assert.equal(await verdict({ 'content-digest': RFC_SHA256 }, undefined), 'digest_invalid', 'a digest on no body is the empty body\'s');
});

test('malformed fields are refused: not a dictionary, not a byte sequence, a wrong length, too long', async () => {
  for (const value of ['sha-256=X48E9q', 'sha-256=:not base64:', '==', 'sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="', 'sha-256=:AAAA:', `sha-256=:${'A'.repeat(2000)}:`]) {
    assert.equal(await verdict({ 'content-digest': value }, RFC_BODY), 'digest_invalid', value);
  }
});

test('deprecated and unknown algorithms are ignored, never trusted: they do not satisfy required', async () => {
  assert.equal(await verdict({ 'content-digest': 'md5=:XrY7u+Ae7tCTyyK7j1rNww==:, sha=:AAAA:' }, RFC_BODY), 'pass');
  assert.equal(await verdict({ 'content-digest': 'md5=:XrY7u+Ae7tCTyyK7j1rNww==:' }, RFC_BODY, config({ verify: 'required' })), 'digest_required');
  assert.equal(await verdict({ 'content-digest': RFC_SHA512 }, RFC_BODY, config({ algorithms: ['sha-256'] })), 'pass', 'sha-512 not accepted: ignored');
  assert.equal(await verdict({ 'content-digest': RFC_SHA512 }, RFC_BODY, config({ verify: 'required', algorithms: ['sha-256'] })), 'digest_required');
});

test('required (config or x-rampart-content-digest): a body without a digest is refused with Want-Content-Digest; no body passes', async () => {
  assert.equal(await verdict({}, RFC_BODY), 'pass');
  assert.equal(await verdict({}, RFC_BODY, config({ verify: 'required' })), 'digest_required');
  assert.equal(await verdict({}, RFC_BODY, config({ verify: 'off' }), { 'x-rampart-content-digest': 'required' }), 'digest_required');
  assert.equal(await verdict({}, undefined, config({ verify: 'required' })), 'pass');
  const policy = createContentDigestPolicy(input(), config({ verify: 'required' }));
  await assert.rejects(Promise.resolve(policy?.run(request({}, RFC_BODY))), (error: unknown) => error instanceof GatewayError && error.headers?.['want-content-digest'] === 'sha-256=10, sha-512=9');
  assert.throws(() => createContentDigestPolicy(input({ 'x-rampart-content-digest': true }), config()), ConfigIssueError);
});

test('off: nothing checked (no policy at all when responses get no digests either); a Repr-Digest of a content-coded body cannot be checked and is refused', async () => {
  assert.equal(await verdict({ 'content-digest': 'garbage' }, RFC_BODY, config({ verify: 'off', respond: 'off' })), 'no policy');
  assert.equal(await verdict({ 'content-digest': 'garbage' }, RFC_BODY, config({ verify: 'off' })), 'pass');
  assert.equal(await verdict({ 'repr-digest': RFC_SHA256, 'content-encoding': 'gzip' }, 'gzipped'), 'digest_invalid');
});

test('Want-Content-Digest and Want-Repr-Digest are noted for the send step: the preferred accepted algorithm, or nothing', async () => {
  const policy = createContentDigestPolicy(input(), config({ algorithms: ['sha-256', 'sha-512'] }))!;
  const noted = async (headers: Record<string, string>) => {
    const ctx = request(headers) as RequestContext & { responseDigests?: unknown };
    await policy.run(ctx);
    return ctx.responseDigests;
  };
  assert.deepEqual(await noted({ 'want-content-digest': 'sha-512=3, sha-256=10' }), { content: 'sha-256', repr: undefined });
  assert.deepEqual(await noted({ 'want-repr-digest': 'sha-256=1, sha-512=1' }), { content: undefined, repr: 'sha-256' }, 'a tie goes to the configured order');
  assert.equal(await noted({ 'want-content-digest': 'md5=10, sha-256=0' }), undefined);
  assert.equal(await noted({ 'want-content-digest': 'sha-256' }), undefined, 'a bare key is true, not a preference from 1 to 10');
  assert.equal(await noted({ 'want-content-digest': 'sha-256=5.5' }), undefined);
  assert.equal(await noted({ 'want-content-digest': '(((' }), undefined);
  const off = createContentDigestPolicy(input(), config({ respond: 'off' }))!;
  const ctx = request({ 'want-content-digest': 'sha-256=1' }) as RequestContext & { responseDigests?: unknown };
  await off.run(ctx);
  assert.equal(ctx.responseDigests, undefined);
});
