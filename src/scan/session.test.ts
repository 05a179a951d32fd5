import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProbeResponse } from './client.ts';
import type { Identity } from './identity.ts';
import { jsonOf, objectsIn, ownedBy, ownerOf, sameTenant, tenantOf, withQuery, type KnownObject } from './session.ts';

const identity = (name: string, subject?: string, tenant?: string): Identity => ({ name, role: 'user', subject, tenant, token: undefined, apiKey: undefined, publicKey: undefined, secrets: [] });
const object = (o: Partial<KnownObject>): KnownObject => ({ key: 'orderId', value: 'ord-1', owner: undefined, tenant: undefined, seenBy: 'a', createdBy: undefined, operationId: 'x', evidence: { request: { method: 'GET', url: '/', headers: {} }, response: { status: 200, headers: {} } }, ...o });
const response = (body: string, type = 'application/json'): ProbeResponse => ({ status: 200, headers: { 'content-type': type }, body, elapsedMs: 1 });

test('ownership: the owner field names the subject, or the identity created the object', () => {
  const alice = identity('alice', 'u-alice', 'acme');
  assert.ok(ownedBy(object({ owner: 'u-alice' }), alice));
  assert.ok(ownedBy(object({ createdBy: 'alice' }), alice));
  assert.ok(!ownedBy(object({ owner: 'u-bob' }), alice));
  assert.ok(!ownedBy(object({}), alice), 'an object without owner field is nobody\'s unless created in the scan');
  assert.ok(!ownedBy(object({ owner: 'u-x' }), identity('nobody')), 'an identity without a subject owns nothing by field');
});

test('tenants: shared only when both sides are known and equal', () => {
  assert.ok(sameTenant('acme', identity('a', 's', 'acme')));
  assert.ok(!sameTenant('acme', identity('a', 's', 'globex')));
  assert.ok(!sameTenant('acme', identity('a', 's')));
  assert.ok(!sameTenant(undefined, identity('a', 's', 'acme')));
  assert.equal(ownerOf({ userId: 'u-1', ownerId: 'u-2' }), 'u-2', 'ownerId first');
  assert.equal(tenantOf({ tenant_id: 't' }), 't');
  assert.equal(ownerOf({ ownerId: 7 }), undefined, 'only string owners');
});

test('objects in JSON bodies: arrays, wrapped lists, single objects; not JSON is nothing', () => {
  assert.deepEqual(objectsIn(jsonOf(response('[{"id":"a"},1,{"id":"b"}]'))), [{ id: 'a' }, { id: 'b' }]);
  assert.deepEqual(objectsIn(jsonOf(response('{"items":[{"id":"a"}],"next":null}'))), [{ id: 'a' }]);
  assert.deepEqual(objectsIn(jsonOf(response('{"id":"a"}'))), [{ id: 'a' }]);
  assert.equal(jsonOf(response('<html>', 'text/html')), undefined);
  assert.equal(jsonOf(response('{broken', 'application/json')), undefined);
  assert.deepEqual(jsonOf(response('{"a":1}', 'text/plain')), { a: 1 }, 'JSON-looking bodies are read whatever their type');
});

test('query rewriting keeps other parameters and replaces the named one', () => {
  assert.equal(withQuery('/p', 'a', '1'), '/p?a=1');
  assert.equal(withQuery('/p?a=0&b=2', 'a', '1'), '/p?b=2&a=1');
  assert.equal(withQuery('/p?%zz=1', 'q', 'x'), '/p?%zz=1&q=x', 'a malformed name is kept as it is');
});
