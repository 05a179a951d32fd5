/**
 * Assertions shared by the integration and adversarial suites: the problem+json shape every deny must have, and
 * the liveness check every attack test ends with.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { PROBLEM_TYPE_BASE } from '../../src/problem.ts';

/** A response as the test clients return it (fixtures' `send`, the HTTP/2 helper). */
export interface ResponseLike {
  readonly status: number;
  readonly headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * Asserts an RFC 9457 problem answer with `code`: status, media type, no-store, exactly the generic fields (no
 * detail, no stack), and the request id in body and header alike. Returns the parsed body.
 */
export function assertProblem(res: ResponseLike, status: number, code: string): Record<string, unknown> {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(body['type'], PROBLEM_TYPE_BASE + code);
  assert.equal(body['status'], status);
  assert.ok(typeof body['requestId'] === 'string' && body['requestId'].length > 0, 'problem carries a request id');
  const keys = Object.keys(body).filter((k) => k !== 'errors').sort();
  assert.deepEqual(keys, ['requestId', 'status', 'title', 'type']);
  assert.equal(res.headers['x-request-id'], body['requestId']);
  assert.equal(res.headers['cache-control'], 'no-store');
  return body;
}

/**
 * Asserts the gateway still serves: the admin `/readyz` answers 200 within `withinMs` (default 1000 ms, generous
 * for a loaded 2-core CI machine; the flood tests pass 100). Returns the measured latency in ms.
 */
export async function assertAlive(adminUrl: string, withinMs = 1000): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${adminUrl}/readyz`, { signal: AbortSignal.timeout(Math.max(withinMs, 5000)) });
  const ms = performance.now() - started;
  assert.equal(res.status, 200, 'the gateway answers /readyz');
  await res.arrayBuffer();
  assert.ok(ms <= withinMs, `/readyz answered in ${ms.toFixed(1)} ms (bound ${withinMs} ms)`);
  return ms;
}
