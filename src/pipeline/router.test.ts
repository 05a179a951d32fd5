import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from './router.ts';

test('matches static over parameter segments and decodes parameters', () => {
  const router = new Router<string>();
  router.add('GET', '/orders/{orderId}', 'getOrder');
  router.add('GET', '/orders/search', 'search');
  router.add('DELETE', '/orders/{orderId}', 'deleteOrder');
  router.add('GET', '/users/{userId}/orders/{orderId}', 'userOrder');
  assert.deepEqual(router.match('GET', '/orders/search'), { kind: 'found', route: 'search', params: {} });
  assert.deepEqual(router.match('GET', '/orders/o%201'), { kind: 'found', route: 'getOrder', params: { orderId: 'o 1' } });
  assert.deepEqual(router.match('GET', '/users/u1/orders/o2'), { kind: 'found', route: 'userOrder', params: { userId: 'u1', orderId: 'o2' } });
  assert.deepEqual(router.match('HEAD', '/orders/1'), { kind: 'found', route: 'getOrder', params: { orderId: '1' } });
});

test('unknown paths are not found; undeclared methods list what is allowed', () => {
  const router = new Router<string>();
  router.add('GET', '/orders/{orderId}', 'getOrder');
  router.add('DELETE', '/orders/{orderId}', 'deleteOrder');
  assert.deepEqual(router.match('GET', '/nope'), { kind: 'not_found' });
  assert.deepEqual(router.match('GET', '/orders/'), { kind: 'not_found' }, 'empty parameter never matches');
  assert.deepEqual(router.match('GET', '/orders/1/extra'), { kind: 'not_found' });
  assert.deepEqual(router.match('PUT', '/orders/1'), { kind: 'method_not_allowed', allowed: ['DELETE', 'GET', 'HEAD'] });
});

test('rejects ambiguous templates at build time', () => {
  const router = new Router<string>();
  router.add('GET', '/a/{x}', 'one');
  assert.throws(() => router.add('GET', '/a/{y}/b', 'two'), /conflicting parameter names/);
  assert.throws(() => router.add('GET', '/a/{x}', 'dup'), /duplicate route/);
  assert.throws(() => router.add('GET', '/files/{name}.json', 'partial'), /partial path parameters/);
});
