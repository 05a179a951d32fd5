import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHostMatcher, listenerAuthority, isLoopbackHost } from './hosts.ts';

test('host matcher: exact names and one-level wildcards, case-insensitive, port kept; look-alikes refused', () => {
  const m = createHostMatcher(['api.example.com', '*.tenants.example.com']);
  assert.equal(m.match('api.example.com'), 'api.example.com');
  assert.equal(m.match('API.Example.COM:8443'), 'api.example.com:8443');
  assert.equal(m.match('acme.tenants.example.com'), 'acme.tenants.example.com');
  for (const bad of [undefined, '', 'tenants.example.com', 'a.b.tenants.example.com', 'api.example.com.evil', 'evilapi.example.com', 'api.example.com:99999x', 'api.example.com@evil', 'api.example.com/x', ' api.example.com', 'xtenants.example.com']) {
    assert.equal(m.match(bad), undefined, String(bad));
  }
});

test('listener authority: IPv4, IPv6 in brackets, IPv4-mapped IPv6 unwrapped', () => {
  assert.equal(listenerAuthority('127.0.0.1', 8443), '127.0.0.1:8443');
  assert.equal(listenerAuthority('::1', 80), '[::1]:80');
  assert.equal(listenerAuthority('::ffff:10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(listenerAuthority(undefined, 80), undefined);
});

test('isLoopbackHost: localhost, 127/8 addresses and ::1 only; a DNS name that starts with 127. is not loopback', () => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['127.0.0.1.nip.io', '127.collector.example.com', '127.', '1270.0.0.1', '10.0.0.1', 'example.com', '::2']) assert.equal(isLoopbackHost(host), false, host);
});
