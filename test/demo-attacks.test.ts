/**
 * The OWASP API Top 10 attacks of issue #4, each sent twice: straight at the naive demo API (it works) and through
 * Rampart with the demo's OpenAPI contract (it is stopped), while the legitimate call still passes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoStack, type DemoStack } from './helpers/demo-stack.ts';
import { assertProblem as assertProblemResponse } from './helpers/http.ts';

let stack: DemoStack;
let alice: string;
let carol: string;
let admin: string;

before(async () => {
  stack = await startDemoStack();
  [alice, carol, admin] = await Promise.all([stack.token('alice'), stack.token('carol'), stack.token('admin')]);
});
after(() => stack?.close());

interface Sent {
  status: number;
  headers: Headers;
  text: string;
  json: () => unknown;
}

async function send(base: string, method: string, path: string, token: string, body?: string): Promise<Sent> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}
const direct = (method: string, path: string, token: string, body?: string) => send(stack.api.url, method, path, token, body);
const gated = (method: string, path: string, token: string, body?: string) => send(stack.gateway.url, method, path, token, body);

const assertProblem = (res: Sent, status: number, code: string): Record<string, unknown> =>
  assertProblemResponse({ status: res.status, headers: Object.fromEntries(res.headers), body: res.text }, status, code);

describe('BOLA: reading another user\'s order by id', () => {
  test('works directly, 404 through Rampart, own order still readable', async () => {
    const leak = await direct('GET', '/orders/ord-5', alice);
    assert.equal(leak.status, 200);
    assert.equal((leak.json() as { ownerId: string }).ownerId, 'u-carol');
    const stopped = await gated('GET', '/orders/ord-5', alice);
    assertProblem(stopped, 404, 'not_found');
    assert.doesNotMatch(stopped.text, /u-carol|Flux/);
    const own = await gated('GET', '/orders/ord-1', alice);
    assert.equal(own.status, 200);
    assert.equal((own.json() as { ownerId: string }).ownerId, 'u-alice');
  });
});

describe('BOLA: listing another tenant\'s accounts', () => {
  test('direct listing shows globex; through Rampart only the caller\'s tenant', async () => {
    const leak = (await direct('GET', '/accounts', alice)).json() as { tenantId: string }[];
    assert.ok(leak.some((a) => a.tenantId === 'globex'));
    const listed = await gated('GET', '/accounts', alice);
    assert.equal(listed.status, 200);
    const accounts = listed.json() as { tenantId: string }[];
    assert.ok(accounts.length > 0);
    assert.ok(accounts.every((a) => a.tenantId === 'acme'));
    const carols = (await gated('GET', '/accounts', carol)).json() as { tenantId: string }[];
    assert.ok(carols.length > 0 && carols.every((a) => a.tenantId === 'globex'));
  });
  test('asking for another tenant by query is refused by the CEL rule', async () => {
    const leak = (await direct('GET', '/accounts?tenantId=globex', alice)).json() as unknown[];
    assert.ok(leak.length > 0);
    assertProblem(await gated('GET', '/accounts?tenantId=globex', alice), 403, 'forbidden');
    assert.equal((await gated('GET', '/accounts?tenantId=acme', alice)).status, 200);
  });
});

describe('BOLA in a request body: an order on another tenant\'s account', () => {
  const items = async (item: string) => ((await direct('GET', '/orders', admin)).json() as { item: string; accountId: string }[]).filter((o) => o.item === item);
  test('works directly; through Rampart the owner lookup refuses it (404) and the demo API creates nothing', async () => {
    const leak = await direct('POST', '/orders', carol, JSON.stringify({ accountId: 'acc-alice', item: 'Direct heist', quantity: 1, amount: 1 }));
    assert.equal(leak.status, 201, leak.text);
    assert.equal((await items('Direct heist'))[0]?.accountId, 'acc-alice');
    const body = JSON.stringify({ accountId: 'acc-alice', item: 'Gated heist', quantity: 1, amount: 1 });
    const stopped = await gated('POST', '/orders', carol, body);
    assertProblem(stopped, 404, 'not_found');
    assert.doesNotMatch(stopped.text, /acc-alice|acme|u-alice/);
    const bob = await stack.token('bob');
    assertProblem(await gated('POST', '/orders', bob, body), 404, 'not_found');
    assert.deepEqual(await items('Gated heist'), [], 'no order was created on alice\'s account');
  });
  test('an order on the caller\'s own account still passes, and one on a missing account is refused', async () => {
    const own = await gated('POST', '/orders', carol, JSON.stringify({ accountId: 'acc-carol', item: 'Own purchase', quantity: 1, amount: 2 }));
    assert.equal(own.status, 201, own.text);
    assert.equal((await items('Own purchase'))[0]?.accountId, 'acc-carol');
    assertProblem(await gated('POST', '/orders', carol, JSON.stringify({ accountId: 'acc-nobody', item: 'Ghost', quantity: 1, amount: 2 })), 404, 'not_found');
    assert.deepEqual(await items('Ghost'), []);
  });
});

describe('mass assignment through PATCH /users/me', () => {
  test('role/isAdmin stick directly, are refused through Rampart; displayName still updates', async () => {
    const escalated = await direct('PATCH', '/users/me', carol, JSON.stringify({ isAdmin: true, role: 'admin' }));
    assert.equal(escalated.status, 200);
    assert.equal((escalated.json() as { isAdmin: boolean }).isAdmin, true);
    for (const body of [{ role: 'admin' }, { isAdmin: true }, { displayName: 'A', tenantId: 'globex' }]) {
      const res = await gated('PATCH', '/users/me', alice, JSON.stringify(body));
      const problem = assertProblem(res, 400, 'validation_failed');
      const errors = problem['errors'] as { pointer: string; message: string }[];
      assert.match(errors[0]!.pointer, /^body\/(role|isAdmin|tenantId)$/);
      assert.equal(errors[0]!.message, 'is read-only and must not be sent');
    }
    const ok = await gated('PATCH', '/users/me', alice, JSON.stringify({ displayName: 'Alice A.' }));
    assert.equal(ok.status, 200);
    const me = ok.json() as Record<string, unknown>;
    assert.equal(me['displayName'], 'Alice A.');
    assert.equal(me['isAdmin'], false);
  });
});

describe('BFLA: the admin operation as a normal user', () => {
  test('works directly, 403 through Rampart, admin passes', async () => {
    assert.equal((await direct('GET', '/admin/users', alice)).status, 200);
    const stopped = await gated('GET', '/admin/users', alice);
    assertProblem(stopped, 403, 'insufficient_scope');
    assert.match(stopped.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope"/);
    assert.equal((await gated('GET', '/admin/users', admin)).status, 200);
  });
});

describe('excessive data exposure', () => {
  test('password hash, internal notes and tenant secrets are stripped; sensitive email masked', async () => {
    const leak = await direct('GET', '/users/me', alice);
    assert.match(leak.text, /passwordHash/);
    assert.match(leak.text, /internalNotes/);
    const me = (await gated('GET', '/users/me', alice)).json() as Record<string, unknown>;
    assert.equal(me['id'], 'u-alice');
    assert.equal(me['passwordHash'], undefined);
    assert.equal(me['internalNotes'], undefined);
    assert.equal(me['email'], '****');
    const users = await gated('GET', '/admin/users', admin);
    assert.doesNotMatch(users.text, /passwordHash|internalNotes|scrypt/);
    const accounts = await gated('GET', '/accounts', alice);
    assert.match(await direct('GET', '/accounts', alice).then((r) => r.text), /tenantSecret/);
    assert.doesNotMatch(accounts.text, /tenantSecret|signing-secret/);
    const order = await gated('GET', '/orders/ord-1', alice);
    assert.doesNotMatch(order.text, /internalNotes|card ending/);
  });
});

describe('request contract attacks', () => {
  test('undeclared query parameters', async () => {
    const res = await gated('GET', '/orders?limit=5&debug=true', alice);
    const problem = assertProblem(res, 400, 'validation_failed');
    assert.deepEqual(problem['errors'], [{ pointer: 'query/debug', message: 'is not a declared property' }]);
    assert.equal((await gated('GET', '/orders?limit=5&status=paid', alice)).status, 200);
  });
  test('type confusion {"id": {"$ne": null}}', async () => {
    const injected = await direct('POST', '/orders/search', alice, JSON.stringify({ id: { $ne: null } }));
    assert.equal(injected.status, 200);
    assert.ok((injected.json() as unknown[]).length > 1, 'the operator matched every order directly');
    const problem = assertProblem(await gated('POST', '/orders/search', alice, JSON.stringify({ id: { $ne: null } })), 400, 'validation_failed');
    assert.deepEqual(problem['errors'], [{ pointer: 'body/id', message: 'must be string' }]);
    const found = await gated('POST', '/orders/search', alice, JSON.stringify({ id: 'ord-1' }));
    assert.equal(found.status, 200);
  });
  test('prototype pollution bodies and duplicate keys', async () => {
    for (const body of ['{"displayName":"x","__proto__":{"isAdmin":true}}', '{"displayName":"x","constructor":{"prototype":{"isAdmin":true}}}', '{"displayName":"x","displayName":"y"}']) {
      const res = await gated('PATCH', '/users/me', alice, body);
      const problem = assertProblem(res, 400, 'validation_failed');
      assert.doesNotMatch(JSON.stringify(problem), /isAdmin|"y"/);
    }
  });
  test('oversized strings, arrays and deep nesting', async () => {
    const long = await gated('PATCH', '/users/me', alice, JSON.stringify({ displayName: 'x'.repeat(5000) }));
    assert.deepEqual(assertProblem(long, 400, 'validation_failed')['errors'], [{ pointer: 'body/displayName', message: 'must NOT have more than 100 characters' }]);
    assert.doesNotMatch(long.text, /xxxx/);
    const array = await gated('POST', '/orders/search', alice, JSON.stringify({ item: ['a'] }));
    assertProblem(array, 400, 'validation_failed');
    const deep = '{"item":' + '['.repeat(100) + ']'.repeat(100) + '}';
    const nested = await gated('POST', '/orders/search', alice, deep);
    assert.deepEqual(assertProblem(nested, 400, 'validation_failed')['errors'], [{ pointer: 'body', message: 'must not nest deeper than 32 levels' }]);
  });
  test('a legitimate order passes end to end', async () => {
    const res = await gated('POST', '/orders', alice, JSON.stringify({ accountId: 'acc-alice', item: 'Bolt', quantity: 2, amount: 3.5 }));
    assert.equal(res.status, 201, res.text);
    const order = res.json() as Record<string, unknown>;
    assert.equal(order['ownerId'], 'u-alice');
    assert.equal(order['internalNotes'], undefined);
  });
});
