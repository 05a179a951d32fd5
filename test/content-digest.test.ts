/**
 * Request content digests (RFC 9530, src/policies/content-digest) through a real gateway in front of a real
 * upstream: a body whose digest matches reaches the upstream with its field; a body changed after its digest was
 * computed, a malformed field or a missing one where the spec requires it is refused 400 and never forwarded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createHash } from 'node:crypto';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { ITEMS_SPEC, itemsConfig } from './helpers/gateway-fixtures.ts';
import { assertProblem } from './helpers/http.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';

const digest = (body: string, algorithm: 'sha256' | 'sha512' = 'sha256') => `${algorithm.replace('sha', 'sha-')}=:${createHash(algorithm).update(body).digest('base64')}:`;
const SPEC = ITEMS_SPEC.replace('      operationId: createItem\n', '      operationId: createItem\n      x-rampart-content-digest: required\n');

describe('request content digests', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway(itemsConfig(up.url), { files: { 'items.yaml': SPEC } });
  });
  after(async () => {
    await gw?.close();
    await up?.close();
  });

  const post = async (headers: Record<string, string>, body: string) => {
    const res = await fetch(`${gw.url}/items`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(5000) });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
  };

  test('a matching digest passes and reaches the upstream with the body and the field', async () => {
    const body = '{"name":"widget"}';
    const res = await post({ 'content-digest': `${digest(body)}, ${digest(body, 'sha512')}` }, body);
    assert.equal(res.status, 200, res.body);
    assert.equal(up.seen.at(-1)?.body, body);
    assert.equal(up.seen.at(-1)?.headers['content-digest'], `${digest(body)}, ${digest(body, 'sha512')}`);
  });

  test('a body changed after its digest was computed, or a malformed field, is refused and never forwarded', async () => {
    const before = up.seen.length;
    assertProblem(await post({ 'content-digest': digest('{"name":"widget"}') }, '{"name":"gadget"}'), 400, 'digest_invalid');
    assertProblem(await post({ 'content-digest': 'sha-256=:!!:' }, '{"name":"x"}'), 400, 'digest_invalid');
    assertProblem(await post({ 'content-digest': digest('{"a":1}'), 'repr-digest': digest('{"a":2}') }, '{"a":1}'), 400, 'digest_invalid');
    assert.equal(up.seen.length, before);
  });

  test('required by the spec: no digest, or only a deprecated one, is refused with Want-Content-Digest', async () => {
    const before = up.seen.length;
    const missing = await post({}, '{"name":"x"}');
    assertProblem(missing, 400, 'digest_required');
    assert.equal(missing.headers['want-content-digest'], 'sha-256=10, sha-512=9');
    assertProblem(await post({ 'content-digest': 'md5=:XrY7u+Ae7tCTyyK7j1rNww==:' }, '{"name":"x"}'), 400, 'digest_required');
    assert.equal(up.seen.length, before);
  });

  test('a chunked body split anywhere is hashed whole; two field lines combine into one dictionary', async () => {
    const body = '{"name":"chunked widget"}';
    const status = await new Promise<number>((resolve, reject) => {
      const { port } = new URL(gw.url);
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/items', headers: { 'content-type': 'application/json', 'content-digest': [digest(body), digest(body, 'sha512')] } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 5));
      setTimeout(() => req.end(body.slice(5)), 20);
    });
    assert.equal(status, 200);
    assert.equal(up.seen.at(-1)?.body, body);
  });
});
