import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FromSchema } from 'json-schema-to-ts';
import { withSchemaDefaults } from '../../config/defaults.ts';
import type { PolicyBuildInput, RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { createReadOnlyPolicy, readOnlyPolicy } from './index.ts';
import { readOnlySchema, type ReadOnlyConfig } from './schema.ts';

// Compile-time: the hand-written type is exactly the one the schema describes (defaults make properties present).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const typeMatchesSchema: Same<{ -readonly [K in keyof ReadOnlyConfig]: ReadOnlyConfig[K] }, FromSchema<typeof readOnlySchema>> = true;

const input = (method: string) => ({ method, api: { name: 'orders' } }) as unknown as PolicyBuildInput;
const on = (given: Record<string, unknown> = {}) => withSchemaDefaults<ReadOnlyConfig>(readOnlySchema, { enabled: true, ...given });

const withQuery = (rawQuery: string, headers: Record<string, string> = {}) => ({ rawQuery, query: new URLSearchParams(rawQuery), headers }) as unknown as RequestContext;

test('off by default: no policy; safe methods pass unless a _method parameter names an unsafe one', () => {
  assert.equal(typeMatchesSchema, true);
  assert.equal(createReadOnlyPolicy(input('POST'), withSchemaDefaults<ReadOnlyConfig>(readOnlySchema)), undefined);
  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    const policy = createReadOnlyPolicy(input(method), on());
    assert.doesNotThrow(() => policy?.run(withQuery('q=1&method=DELETE')), method);
    assert.doesNotThrow(() => policy?.run(withQuery('_method=get')), method);
    assert.throws(() => policy?.run(withQuery('', { upgrade: 'WebSocket' })), (error: unknown) => error instanceof GatewayError && error.code === 'read_only', `${method} upgrade`);
    for (const query of ['_method=DELETE', 'a=1&_method=patch', '_METHOD=PUT', '_method=GET&_method=POST', '_method=%44ELETE', '%5Fmethod=DELETE', '_Method=put']) {
      assert.throws(() => policy?.run(withQuery(query)), (error: unknown) => error instanceof GatewayError && error.code === 'read_only', `${method} ?${query}`);
    }
  }
});

test('unsafe methods are refused before authentication with read_only and Retry-After', () => {
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'QUERY']) {
    const policy = createReadOnlyPolicy(input(method), on({ retry_after_seconds: 42 }));
    assert.equal(policy?.stage, 'ip_filter');
    assert.throws(
      () => policy?.run({} as never),
      (error: unknown) => error instanceof GatewayError && error.code === 'read_only' && error.status === 503 && error.headers?.['retry-after'] === '42',
    );
  }
});

test('the registry entry declares apis[].read_only and hands its value to the factory', () => {
  assert.equal(readOnlyPolicy.setting?.key, 'read_only');
  assert.equal(readOnlyPolicy.build(input('DELETE'), on())?.request !== undefined, true);
  assert.equal(readOnlyPolicy.build(input('DELETE'), withSchemaDefaults(readOnlySchema))?.request, undefined);
});
