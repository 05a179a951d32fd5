import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { DashboardSessions, MAX_SESSIONS_PER_TOKEN, SESSION_COOKIE, sameOrigin } from './sessions.ts';
import type { GatewayError } from '../../problem.ts';
import { AdminAuth } from '../api/auth.ts';

const OPS_TOKEN = 'o'.repeat(40);
const RO_TOKEN = 'r'.repeat(40);
const ops = { name: 'ops', role: 'admin' as const };
const reader = { name: 'reader', role: 'read_only' as const };
const OPS = createHash('sha256').update(OPS_TOKEN).digest();
const RO = createHash('sha256').update(RO_TOKEN).digest();
let auth = new AdminAuth([{ name: 'ops', token: OPS_TOKEN, role: 'admin' }, { name: 'reader', token: RO_TOKEN, role: 'read_only' }]);
const holderOf = (d: Buffer) => auth.holderOf(d);

function req(id: string | undefined, method = 'GET', headers: Record<string, string> = {}): IncomingMessage {
  return { method, headers: { host: '127.0.0.1:8081', ...(id ? { cookie: `theme=dark; ${SESSION_COOKIE}=${id}` } : {}), ...headers } } as unknown as IncomingMessage;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as GatewayError).code;
  }
}

test('a session ends after the idle timeout, and after the absolute one however busy', () => {
  let now = 0;
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, holderOf, now: () => now });
  const { id } = sessions.open(ops, OPS);
  now = 59_000;
  assert.equal(sessions.authenticate(req(id)).name, 'ops');
  now = 59_000 + 60_001;
  assert.equal(code(() => sessions.authenticate(req(id))), 'unauthorized', 'idle');
  const busy = sessions.open(ops, OPS).id;
  for (now = 120_000; now < 120_000 + 300_000; now += 50_000) sessions.authenticate(req(busy));
  now = 120_000 + 300_001;
  assert.equal(code(() => sessions.authenticate(req(busy))), 'unauthorized', 'absolute');
});

test('alive() does not count as use: an open event stream does not keep an idle session alive', () => {
  let now = 0;
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, holderOf, now: () => now });
  const { id } = sessions.open(ops, OPS);
  for (now = 0; now <= 60_000; now += 10_000) assert.equal(sessions.alive(req(id)), true);
  now = 60_001;
  assert.equal(sessions.alive(req(id)), false);
});

test('changes need the CSRF token of this session, not another one', () => {
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, holderOf });
  const a = sessions.open(ops, OPS);
  const b = sessions.open(ops, OPS);
  assert.equal(code(() => sessions.authenticate(req(a.id, 'POST'))), 'csrf_failed');
  assert.equal(code(() => sessions.authenticate(req(a.id, 'POST', { 'x-csrf-token': b.view.csrf_token }))), 'csrf_failed');
  assert.equal(sessions.authenticate(req(a.id, 'POST', { 'x-csrf-token': a.view.csrf_token })).name, 'ops');
  assert.equal(sessions.authenticate(req(a.id, 'DELETE', { 'x-csrf-token': a.view.csrf_token, origin: 'http://127.0.0.1:8081' })).name, 'ops');
  assert.equal(code(() => sessions.authenticate(req(a.id, 'PATCH', { 'x-csrf-token': a.view.csrf_token, origin: 'http://127.0.0.1:9999' }))), 'csrf_failed');
});

test("a flood of one token's logins ends only that token's oldest sessions, never another token's", () => {
  let now = 0;
  const sessions = new DashboardSessions({ idleMs: 3_600_000, maxMs: 3_600_000, holderOf, now: () => now });
  const active = sessions.open(ops, OPS).id;
  const readers: string[] = [];
  for (let i = 0; i < 2000; i++) {
    now++;
    readers.push(sessions.open(reader, RO).id);
  }
  assert.equal(sessions.size, 1 + MAX_SESSIONS_PER_TOKEN);
  assert.equal(sessions.authenticate(req(active)).name, 'ops');
  assert.equal(sessions.authenticate(req(readers.at(-1))).name, 'reader');
  assert.equal(code(() => sessions.authenticate(req(readers[0]))), 'unauthorized');
});

test('a session ends when its token is removed or changes role (config reload)', () => {
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, holderOf });
  const a = sessions.open(ops, OPS).id;
  const b = sessions.open(reader, RO).id;
  const before = auth;
  try {
    auth = new AdminAuth([{ name: 'ops', token: OPS_TOKEN, role: 'read_only' }]);
    assert.equal(code(() => sessions.authenticate(req(a))), 'unauthorized', 'role changed');
    assert.equal(code(() => sessions.authenticate(req(b))), 'unauthorized', 'token removed');
  } finally {
    auth = before;
  }
});

test('two live sessions in one Cookie header are no session (a planted one cannot shadow the operator)', () => {
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, holderOf });
  const mine = sessions.open(ops, OPS).id;
  const planted = sessions.open(reader, RO).id;
  const both = { method: 'GET', headers: { cookie: `${SESSION_COOKIE}=${planted}; ${SESSION_COOKIE}=${mine}` } } as unknown as IncomingMessage;
  assert.equal(code(() => sessions.authenticate(both)), 'unauthorized');
  const withJunk = { method: 'GET', headers: { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}; ${SESSION_COOKIE}=${mine}` } } as unknown as IncomingMessage;
  assert.equal(sessions.authenticate(withJunk).name, 'ops', 'a dead or forged extra cookie does not lock the operator out');
});

test('sameOrigin: Sec-Fetch-Site and Origin decide; a browser that sends neither is not refused', () => {
  assert.equal(sameOrigin(req(undefined, 'POST', {})), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { 'sec-fetch-site': 'same-origin' })), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { 'sec-fetch-site': 'cross-site' })), false);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'http://127.0.0.1:8081' })), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'http://127.0.0.1:8081.evil.example' })), false);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'garbage' })), false);
});
