import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { clientIpOf, parseTarget, requestIdOf } from './normalise.ts';
import type { GatewayError } from '../problem.ts';
import type { ServerRequest } from '../pipeline/types.ts';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as GatewayError).code;
  }
};

test('accepts ordinary origin-form targets', () => {
  assert.deepEqual(parseTarget('/orders/ord-1?expand=items&x=%20y', 8192), { path: '/orders/ord-1', rawQuery: 'expand=items&x=%20y' });
  assert.deepEqual(parseTarget('/', 8192), { path: '/', rawQuery: '' });
  assert.deepEqual(parseTarget('/users/caf%C3%A9', 8192), { path: '/users/caf%C3%A9', rawQuery: '' });
  assert.deepEqual(parseTarget('/orders/', 8192), { path: '/orders/', rawQuery: '' });
});

test('rejects path-confusion encodings with invalid_path', () => {
  for (const target of [
    '/a/%2e%2e/admin',
    '/a/%2E%2E/admin',
    '/a/..%2fadmin',
    '/a%2Fb',
    '/a%5cb',
    '/a/%252e%252e/b',
    '/a/%00',
    '/a/%0a',
    '/a/../b',
    '/a/./b',
    '/a//b',
    '/a/%c0%ae%c0%ae/b',
    '/a/%zz',
    '/a\\b',
    '/a b',
    '/a/\u00e9',
    'http://evil.example/a',
    '*',
  ]) {
    assert.equal(codeOf(() => parseTarget(target, 8192)), 'invalid_path', target);
  }
});

test('rejects NUL and malformed escapes in the query, and long targets with 414', () => {
  assert.equal(codeOf(() => parseTarget('/a?x=%00', 8192)), 'bad_request');
  assert.equal(codeOf(() => parseTarget('/a?x=%g1', 8192)), 'bad_request');
  assert.equal(codeOf(() => parseTarget('/a?' + 'x'.repeat(9000), 8192)), 'uri_too_long');
});

test('request ids: well-formed incoming ids are kept, others replaced', () => {
  assert.equal(requestIdOf('abc-12345678'), 'abc-12345678');
  for (const bad of ['short', 'x'.repeat(200), 'has space 123', '<script>alert(1)</script>', undefined]) {
    const id = requestIdOf(bad);
    assert.notEqual(id, bad);
    assert.match(id, /^[0-9a-f-]{36}$/);
  }
});

const fakeRequest = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as ServerRequest;

test('client IP: X-Forwarded-For is believed only through trusted proxies', () => {
  const trusted = new BlockList();
  trusted.addSubnet('10.0.0.0', 8, 'ipv4');
  assert.equal(clientIpOf(fakeRequest('203.0.113.9', '1.2.3.4'), trusted), '203.0.113.9', 'untrusted peer: spoofed XFF ignored');
  assert.equal(clientIpOf(fakeRequest('10.0.0.5', '1.2.3.4, 198.51.100.7'), trusted), '198.51.100.7', 'rightmost untrusted hop');
  assert.equal(clientIpOf(fakeRequest('10.0.0.5', '1.2.3.4, 10.0.0.9'), trusted), '1.2.3.4', 'skips trusted hops');
  assert.equal(clientIpOf(fakeRequest('::ffff:10.0.0.5', 'garbage!'), trusted), '10.0.0.5', 'garbage hop falls back to the peer');
  assert.equal(clientIpOf(fakeRequest('10.0.0.5', '1.2.3.4'), undefined), '10.0.0.5', 'no trusted proxies configured');
});
