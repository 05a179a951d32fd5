/**
 * Parser-differential attacks on request bodies: bytes the gateway's stages could read one way while the upstream
 * reads them another (a BOM before a login body, a bare CR hiding a duplicate key, a charset other than UTF-8, a
 * repeated form field, a stray percent escape, a lone surrogate). Each is refused with a 400 problem before the
 * upstream, and the gateway still answers /readyz afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { problemOf, send } from '../helpers/gateway-fixtures.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { loginSpec } from '../helpers/login-spec.ts';

const SPEC = loginSpec({
  routes: [['/auth/login', 'login']],
  content: `
          application/json:
            schema: { type: object, properties: { username: { type: string }, password: { type: string } } }
          application/x-www-form-urlencoded:
            schema: { type: object, properties: { username: { type: string }, password: { type: string } } }`,
  extraPaths: `  /orders:
    post:
      operationId: findOrder
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object }
      responses: { '200': { description: ok } }
`,
});

describe('adversarial: body parsing differentials', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      {
        upstreams: { main: { url: upstream.url } },
        apis: [{ name: 'shop', spec: './spec.yaml', upstream: 'main', validation: { additional_properties: 'allow' }, response: { mode: 'off' } }],
      },
      { files: { 'spec.yaml': SPEC } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** Sends one body and asserts a 400 validation problem that never reached the upstream. */
  async function assertRefused(path: string, contentType: string, body: string | Buffer, what: string): Promise<void> {
    const seen = upstream.seen.length;
    const res = await send(gw.url, path, { method: 'POST', headers: { 'content-type': contentType }, body });
    assert.equal(res.status, 400, `${what}: status`);
    assert.equal(res.headers['content-type'], 'application/problem+json', `${what}: media type`);
    const problem = problemOf(res.json());
    assert.equal(problem.code, 'validation_failed', `${what}: problem type`);
    assert.ok(problem.hasRequestId, `${what}: request id`);
    assert.equal(upstream.seen.length, seen, `${what}: the upstream was not reached`);
  }

  it('accepts a plain UTF-8 login body (the control: the refusals below are about the bytes, not the route)', async () => {
    const seen = upstream.seen.length;
    const res = await send(gw.url, '/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      body: JSON.stringify({ username: 'alice', password: 'pw' }),
    });
    assert.equal(res.status, 200);
    assert.equal(upstream.seen.length, seen + 1);
  });

  it('refuses a login body behind a UTF-8 byte order mark (brute-force would miss the account an upstream reads)', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ username: 'alice', password: 'guess' }))]);
    await assertRefused('/auth/login', 'application/json', body, 'BOM + JSON');
    const form = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('username=alice&password=guess')]);
    await assertRefused('/auth/login', 'application/x-www-form-urlencoded', form, 'BOM + form');
  });

  it('refuses a duplicate key hidden behind a bare CR', async () => {
    await assertRefused('/orders', 'application/json', '{"id":{"$ne":null},\r"id":"ord-1"}', 'CR duplicate');
    await assertRefused('/orders', 'application/json', '{"id":{"$ne":null},"\\u0069d":"ord-1"}', 'escaped duplicate');
    await assertRefused('/orders', 'application/json', '{"a":{"id":1,\r\n"id":2}}', 'nested CRLF duplicate');
  });

  it('refuses a charset other than UTF-8, or a charset named twice', async () => {
    const login = JSON.stringify({ username: 'alice', password: 'guess' });
    await assertRefused('/auth/login', 'application/json; charset=utf-16le', Buffer.from(login, 'utf16le'), 'UTF-16 body');
    await assertRefused('/auth/login', 'application/json; charset=iso-8859-1', login, 'Latin-1 label');
    await assertRefused('/auth/login', 'application/json; charset=utf-8; charset=utf-16', login, 'repeated charset');
    await assertRefused('/auth/login', 'application/x-www-form-urlencoded; charset=windows-1252', 'username=alice&password=x', 'form in windows-1252');
  });

  it('refuses a repeated login account field, a malformed percent escape and a lone surrogate', async () => {
    await assertRefused('/auth/login', 'application/x-www-form-urlencoded', 'username=alice&username=bob&password=x', 'repeated account');
    await assertRefused('/auth/login', 'application/x-www-form-urlencoded', 'username=al%ffice&password=x', 'invalid UTF-8 escape');
    await assertRefused('/auth/login', 'application/x-www-form-urlencoded', 'username=alice%&password=x', 'stray percent');
    await assertRefused('/orders', 'application/json', '{"id":"ord-1\\ud800"}', 'lone surrogate');
  });

  it('still answers the admin /readyz', async () => {
    assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200);
  });
});
