import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadSpec } from '../openapi/load.ts';
import { isSearchOperation, privilegedRoles, requiresAuth, resourceKey, sampleObject, type Schema } from './operations.ts';
import { planScan, plannedRequests } from './planner.ts';
import type { PlannedProbe } from './probe.ts';
import { neighbourIds } from './probes/bola.ts';
import { changedValue, secretFields, undeclaredProperties } from './probes/properties.ts';
import { documented, otherVersions } from './probes/inventory.ts';
import { urlTyped } from './probes/ssrf.ts';
import { freeText, freeTextFields, withOperator } from './probes/injection.ts';

const spec = await loadSpec(fileURLToPath(new URL('../../demo/openapi.yaml', import.meta.url)));
const identities = [
  { name: 'alice', role: 'user' },
  { name: 'bob', role: 'user' },
  { name: 'root', role: 'admin' },
];
const plan = (profile: 'safe' | 'full') => planScan({ spec, identities, profile }).flatMap((s) => s.probes);
const op = (id: string) => spec.operations.find((o) => o.operationId === id)!;
const where = (probes: PlannedProbe[], rule: string) => probes.filter((p) => p.rule === rule).map((p) => `${p.operationId ?? p.endpoint}${p.identity ? ` ${p.identity}` : ''}${p.victim ? `>${p.victim}` : ''}`);

test('the demo spec: who may call what', () => {
  assert.equal(requiresAuth(op('health')), false);
  assert.equal(requiresAuth(op('getOrder')), true);
  assert.deepEqual(privilegedRoles(op('adminListUsers')), ['admin']);
  assert.equal(privilegedRoles(op('getOrder')), undefined);
  assert.equal(resourceKey('/orders/{orderId}'), 'orderId');
  assert.equal(resourceKey('/accounts'), 'accountId');
  assert.equal(resourceKey('/categories'), 'categoryId');
  assert.deepEqual(sampleObject(op('createOrder').requestBody!.content['application/json']!.schema as Schema, (n) => (n === 'accountId' ? 'acc-1' : undefined)), { accountId: 'acc-1', item: 'rampart-scan', quantity: 1, amount: 1 });
});

test('safe profile: no destructive probe, the DELETE admin operation only in the full profile', () => {
  const safe = plan('safe');
  assert.ok(safe.every((p) => !p.destructive));
  assert.ok(!safe.some((p) => p.endpoint.startsWith('DELETE')));
  const full = plan('full');
  assert.deepEqual(where(full.filter((p) => p.destructive), 'api5.admin-operation'), ['adminDeleteUser alice', 'adminDeleteUser bob']);
});

test('each probe kind is planned where the spec says it applies', () => {
  const probes = plan('safe');
  // Discovery: lists and own resources as each identity it is entitled to; the admin list only as the admin.
  assert.ok(where(probes, 'discovery').includes('adminListUsers root'));
  assert.ok(!where(probes, 'discovery').includes('adminListUsers alice'));
  assert.ok(where(probes, 'discovery').includes('createOrder alice'), 'a create operation seeds an object');
  // BOLA: readers are never the admin; each reader goes after every other identity's objects.
  const bola = where(probes, 'api1.bola-read');
  assert.ok(bola.includes('getOrder alice>bob') && bola.includes('getOrder alice>root') && bola.includes('getAccount bob>alice'));
  assert.ok(!bola.some((p) => p.includes(' root>')));
  // Authentication: authenticated GETs only (not the public health check or product search).
  const authn = new Set(probes.filter((p) => p.rule.startsWith('api2.')).map((p) => p.operationId));
  assert.ok(authn.has('getOrder') && authn.has('adminListUsers') && !authn.has('health') && !authn.has('searchProducts') && !authn.has('notifications'));
  assert.deepEqual(where(probes, 'api3.mass-assignment'), ['updateMe alice']);
  assert.deepEqual(where(probes, 'api5.admin-operation'), ['adminListUsers alice', 'adminListUsers bob']);
  // Injection: the free-text query parameter and the search's free-text body field (not its id, enum or pattern ones).
  const endpoints = (list: PlannedProbe[], rule: string) => list.filter((p) => p.rule === rule).map((p) => p.endpoint);
  assert.deepEqual(endpoints(probes, 'api10.sql-injection'), ['GET /products?q=', 'POST /orders/search body.item']);
  assert.deepEqual(endpoints(probes, 'api10.command-injection'), endpoints(probes, 'api10.sql-injection'));
  assert.deepEqual(endpoints(probes, 'api10.nosql-injection'), ['GET /accounts?tenantId[$ne]=', 'GET /orders?status[$ne]=', 'GET /products?q[$ne]=', 'POST /orders/search body.item']);
  // With --profile full, the create's and the update's free-text fields too (never the password: writeOnly).
  const writes = plan('full').filter((p) => p.rule === 'api10.template-injection' && p.destructive);
  assert.deepEqual(writes.map((p) => `${p.endpoint} ${p.identity}`), ['PATCH /users/me body.displayName alice', 'POST /orders body.item alice']);
  assert.ok(!plan('full').some((p) => p.rule.startsWith('api10.') && /password|login/.test(`${p.endpoint} ${p.operationId}`)));
  assert.deepEqual(where(probes, 'api4.page-size'), ['listOrders alice']);
  assert.deepEqual(where(probes, 'api4.no-rate-limit'), ['health']);
  assert.deepEqual(where(probes, 'api7.ssrf'), [], 'the demo has no URL-typed parameter');
  assert.ok(plannedRequests(planScan({ spec, identities, profile: 'safe' })) < 1000, 'the default --max-requests covers the demo plan');
});

test('helpers of the probes', () => {
  assert.deepEqual(neighbourIds('ord-5'), ['ord-2', 'ord-3', 'ord-4', 'ord-6', 'ord-7', 'ord-8']);
  assert.deepEqual(neighbourIds('n-01', 2), ['n-00', 'n-02', 'n-03'], 'never below 0, width kept');
  assert.deepEqual(neighbourIds('alice'), []);
  const user = op('getMe').responses['200']!.content!['application/json']!.schema as Schema;
  assert.deepEqual(undeclaredProperties({ id: 'u-1', username: 'a', passwordHash: 'x', internalNotes: 'y' }, user), ['passwordHash', 'internalNotes']);
  const list = op('listOrders').responses['200']!.content!['application/json']!.schema as Schema;
  assert.deepEqual(undeclaredProperties([{ id: 'ord-1', internalNotes: 'n' }, { id: 'ord-2' }], list), ['[].internalNotes']);
  assert.deepEqual(undeclaredProperties({ anything: 1 }, { type: 'object' }), [], 'a schema without properties declares nothing to compare');
  assert.deepEqual(secretFields({ user: { passwordHash: 'scrypt$16384$8$1$a$b', password: '' }, list: [{ tenantSecret: 's' }], note: '$2b$10$abcdefghijklmnop' }), ['user.passwordHash', 'list[].tenantSecret', 'note']);
  assert.deepEqual(secretFields({ email: '****', name: 'x' }), []);
  assert.equal(changedValue('isAdmin', { type: 'boolean' }, false), true);
  assert.equal(changedValue('role', { type: 'string', enum: ['user', 'admin'] }, 'user'), 'admin');
  assert.equal(changedValue('id', { type: 'string' }, 'u-1'), undefined, 'ids are never changed');
  assert.equal(changedValue('createdAt', { type: 'string', format: 'date-time' }, 'x'), undefined);
  assert.ok(urlTyped('callbackUrl', { type: 'string' }) && urlTyped('target', { type: 'string', format: 'uri' }) && !urlTyped('name', { type: 'string' }) && !urlTyped('url', { type: 'integer' }));
  assert.ok(freeText({ type: 'string', maxLength: 10 }) && !freeText({ type: 'string', enum: ['a'] }) && !freeText({ type: 'string', pattern: '^a$' }));
  assert.deepEqual(freeTextFields(op('updateMe')), ['displayName'], 'not the writeOnly password, the email (format) or the readOnly fields');
  assert.equal(withOperator('/x?q=a&limit=5', 'q', '$ne', 'b c'), '/x?limit=5&q[$ne]=b%20c');
  // Search operations: by name or summary, unless the spec says they write.
  const post = (operationId: string, path: string, raw: Record<string, unknown> = {}, responses: Record<string, unknown> = { '200': { description: 'ok' } }) => ({ ...op('searchOrders'), operationId, path, raw, responses }) as typeof spec.operations[number];
  assert.ok(isSearchOperation(op('searchOrders')) && !isSearchOperation(op('createOrder')) && !isSearchOperation(op('login')));
  assert.ok(isSearchOperation(post('runReport', '/reports', { summary: 'Query the ledger by customer.' })), 'a summary that says it searches');
  assert.ok(!isSearchOperation(post('saveQuery', '/queries', { summary: 'Save a query for later.' })), 'a write verb first');
  assert.ok(!isSearchOperation(post('searchJobs', '/search-jobs', {}, { '201': { description: 'created' } })), 'a 201 answer');
  assert.ok(!isSearchOperation(post('findSlot', '/slots/find', { 'x-rampart-flow': true })), 'a business flow');
  assert.ok(documented(spec.operations, '/orders/ord-1') && !documented(spec.operations, '/admin'));
  assert.deepEqual(otherVersions([{ ...op('health'), path: '/v2/health' }]), ['/v1/health', '/v3/health']);
});

test('login operations, query rewriting, and the TLS probe only for https targets', async () => {
  const { loginFields } = await import('./probes/login.ts');
  const { withQuery } = await import('./session.ts');
  assert.deepEqual(loginFields(op('login')), { account: 'username', password: 'password' });
  assert.equal(loginFields(op('createOrder')), undefined);
  assert.equal(withQuery('/x?url=https%3A%2F%2Fa&b=1', 'url', 'http://c/'), '/x?b=1&url=http%3A%2F%2Fc%2F');
  assert.equal(withQuery('/x', 'q', "a' OR 1=1--"), "/x?q=a'%20OR%201%3D1--");
  const tlsProbes = (target: string) => planScan({ spec, identities, profile: 'safe', target: new URL(target) }).flatMap((s) => s.probes).filter((p) => p.rule === 'api8.legacy-tls').length;
  assert.equal(tlsProbes('https://127.0.0.1:8443'), 2);
  assert.equal(tlsProbes('http://127.0.0.1:3000'), 0);
});
