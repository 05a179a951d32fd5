/**
 * Issue 11 finding 5: a flood of distinct client keys must not evict a lockout. A real gateway with memory counters
 * capped at the minimum (100 ordinary keys) behind a trusted proxy, a real upstream login answering 401; an
 * established lockout, then thousands of failed logins from distinct X-Forwarded-For IPs and usernames (each a new
 * set of counters), while /readyz is polled. The 200 000-key flood itself runs in-process against the counter
 * (src/counters/memory.test.ts). IPv6 clients count per /64, so fresh addresses in one network buy nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { LOGIN_SPEC } from '../helpers/login-spec.ts';

const FLOOD = 3000;
const IN_FLIGHT = 16;

describe('a flood of distinct client keys lifts no lockout', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let pool: Pool;
  before(async () => {
    up = await startUpstream();
    up.handler = (_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{}');
    gw = await startGateway(
      {
        trusted_proxies: ['127.0.0.1'],
        counters: { kind: 'memory', max_keys: 100 },
        monitor: { enabled: false },
        logging: { level: 'warn' },
        upstreams: { app: { url: up.url } },
        apis: [
          {
            name: 'app',
            spec: './login.yaml',
            upstream: 'app',
            validation: { additional_properties: 'allow' },
            response: { mode: 'off' },
            brute_force: { max_failures_ip_account: 3, max_failures_ip: 20, max_failures_account: 50, delay_after: 1000 },
          },
        ],
      },
      { files: { 'login.yaml': LOGIN_SPEC } },
    );
    pool = new Pool(gw.url, { connections: IN_FLIGHT });
  });
  after(async () => {
    await pool?.close();
    await gw?.close();
    await up?.close();
  });

  const login = async (ip: string, username: string) => {
    const res = await pool.request({
      path: '/login',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ username, password: 'guess' }),
    });
    const body = await res.body.text();
    return { status: res.statusCode, type: res.statusCode === 429 ? (JSON.parse(body) as Record<string, unknown>)['type'] : undefined };
  };

  it('an established IP×account lockout and a /64 lockout survive thousands of new clients; /readyz stays fast', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login('203.0.113.7', 'alice')).status, 401);
    assert.equal((await login('203.0.113.7', 'alice')).status, 429, 'locked before the flood');
    for (let i = 0; i < 3; i++) assert.equal((await login(`2001:db8:bad:1::${i + 1}`, 'bob')).status, 401);
    assert.equal((await login('2001:db8:bad:1:ffff:ffff:ffff:fffe', 'bob')).status, 429, 'a fresh address in the same /64 is the same client');

    let stop = false;
    const readyz: number[] = [];
    const poller = (async () => {
      while (!stop && readyz.length < 500) {
        const started = performance.now();
        const res = await fetch(`${gw.adminUrl}/readyz`);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        readyz.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < FLOOD) {
        const i = next++;
        const { status } = await login(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `user${i}`);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const floodMs = performance.now() - started;
    stop = true;
    await poller;

    assert.equal(statuses.get(401), FLOOD, `every flood request was a plain failed login: ${JSON.stringify([...statuses])}`);
    const counters = gw.gateway.services.counters!;
    assert.ok(counters.local.size <= 100 + counters.local.heldSize, `memory bounded: ${counters.local.size} keys`);
    const locked = await login('203.0.113.7', 'alice');
    assert.equal(locked.status, 429, 'the IP×account lockout survived the flood');
    assert.equal(locked.type, 'https://rampart.dev/problems/account_locked');
    assert.equal((await login('2001:db8:bad:1::9', 'bob')).status, 429, 'the /64 lockout survived the flood');
    // A blocking eviction would slow most polls; one slow poll is the 2-core machine doing something else.
    const sorted = [...readyz].sort((x, y) => x - y);
    const p90 = sorted[Math.floor(sorted.length * 0.9)] ?? Number.POSITIVE_INFINITY;
    const worst = sorted.at(-1) ?? Number.POSITIVE_INFINITY;
    assert.ok(readyz.length > 0);
    const seen = `p90 ${p90.toFixed(1)} ms, worst ${worst.toFixed(1)} ms over ${readyz.length} polls, flood ${Math.round(floodMs)} ms`;
    assert.ok(p90 < 100 && worst < 1000, `/readyz within 100 ms (p90) and 1 s (worst) during the flood (${seen})`);
    assert.equal((await fetch(`${gw.adminUrl}/readyz`)).status, 200);
  });
});
