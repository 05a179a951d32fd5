import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { DashboardSessions, MAX_SESSIONS, SESSION_COOKIE, sameOrigin } from './sessions.ts';
import type { GatewayError } from '../../problem.ts';

const ops = { name: 'ops', role: 'admin' as const };

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
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, now: () => now });
  const { id } = sessions.open(ops);
  now = 59_000;
  assert.equal(sessions.authenticate(req(id)).name, 'ops');
  now = 59_000 + 60_001;
  assert.equal(code(() => sessions.authenticate(req(id))), 'unauthorized', 'idle');
  const busy = sessions.open(ops).id;
  for (now = 120_000; now < 120_000 + 300_000; now += 50_000) sessions.authenticate(req(busy));
  now = 120_000 + 300_001;
  assert.equal(code(() => sessions.authenticate(req(busy))), 'unauthorized', 'absolute');
});

test('alive() does not count as use: an open event stream does not keep an idle session alive', () => {
  let now = 0;
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000, now: () => now });
  const { id } = sessions.open(ops);
  for (now = 0; now <= 60_000; now += 10_000) assert.equal(sessions.alive(req(id)), true);
  now = 60_001;
  assert.equal(sessions.alive(req(id)), false);
});

test('changes need the CSRF token of this session, not another one', () => {
  const sessions = new DashboardSessions({ idleMs: 60_000, maxMs: 300_000 });
  const a = sessions.open(ops);
  const b = sessions.open(ops);
  assert.equal(code(() => sessions.authenticate(req(a.id, 'POST'))), 'csrf_failed');
  assert.equal(code(() => sessions.authenticate(req(a.id, 'POST', { 'x-csrf-token': b.view.csrf_token }))), 'csrf_failed');
  assert.equal(sessions.authenticate(req(a.id, 'POST', { 'x-csrf-token': a.view.csrf_token })).name, 'ops');
  assert.equal(sessions.authenticate(req(a.id, 'DELETE', { 'x-csrf-token': a.view.csrf_token, origin: 'http://127.0.0.1:8081' })).name, 'ops');
  assert.equal(code(() => sessions.authenticate(req(a.id, 'PATCH', { 'x-csrf-token': a.view.csrf_token, origin: 'http://127.0.0.1:9999' }))), 'csrf_failed');
});

test('at most MAX_SESSIONS are held: a login flood ends the least recently used, not the active one', () => {
  let now = 0;
  const sessions = new DashboardSessions({ idleMs: 3_600_000, maxMs: 3_600_000, now: () => now });
  const active = sessions.open(ops).id;
  for (let i = 0; i < MAX_SESSIONS * 3; i++) {
    now++;
    sessions.open(ops);
    if (i % 100 === 0) sessions.authenticate(req(active));
  }
  assert.equal(sessions.size, MAX_SESSIONS);
  assert.equal(sessions.authenticate(req(active)).name, 'ops');
});

test('sameOrigin: Sec-Fetch-Site and Origin decide; a browser that sends neither is not refused', () => {
  assert.equal(sameOrigin(req(undefined, 'POST', {})), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { 'sec-fetch-site': 'same-origin' })), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { 'sec-fetch-site': 'cross-site' })), false);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'http://127.0.0.1:8081' })), true);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'http://127.0.0.1:8081.evil.example' })), false);
  assert.equal(sameOrigin(req(undefined, 'POST', { origin: 'garbage' })), false);
});
