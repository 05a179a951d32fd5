import type { PolicyBuildInput, PolicyFactory, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { readOnlySchema, type ReadOnlyConfig } from './schema.ts';

/** RFC 9110 §9.2.1 safe methods the router passes (TRACE never reaches a policy). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The query parameter web frameworks read as the real method of a request (Rails, Laravel, Symfony, Express). */
const METHOD_PARAM = '_method';

/**
 * Refuses every unsafe method while `apis[].read_only.enabled` is on: 503 `read_only` with `Retry-After`; on safe
 * routes, a WebSocket upgrade and a `_method` query parameter naming an unsafe method too (the override headers
 * are stripped anyway, see proxy/headers.ts). Undefined (no per-request cost) when it is off.
 */
export function createReadOnlyPolicy(input: PolicyBuildInput, config: ReadOnlyConfig): RequestPolicy | undefined {
  if (!config.enabled) return undefined;
  const refusal = () => new GatewayError('read_only', `API ${input.api.name} is read-only`, { headers: { 'retry-after': String(config.retry_after_seconds) } });
  if (SAFE.has(input.method)) {
    return {
      name: 'read-only',
      stage: 'ip_filter',
      run(ctx) {
        // A WebSocket carries writes in its messages: refused at the upgrade, and an open one is closed at its
        // next re-check (proxy/websocket: every `recheck_ms`).
        if (String(ctx.headers['upgrade'] ?? '').toLowerCase() === 'websocket') throw refusal();
        if (ctx.rawQuery === '') return;
        // Names are compared decoded and in any case: `%5Fmethod` and `_METHOD` are `_method` to some framework.
        for (const [name, value] of ctx.query) if (name.toLowerCase() === METHOD_PARAM && !SAFE.has(value.toUpperCase())) throw refusal();
      },
    };
  }
  return {
    name: 'read-only',
    // Before authentication: a write refused anyway needs no credential checked, no counter spent.
    stage: 'ip_filter',
    run() {
      throw refusal();
    },
  };
}

/** The registry entry (src/policies/index.ts): the factory and its `apis[].read_only` setting. */
export const readOnlyPolicy: PolicyFactory = {
  name: 'read-only',
  setting: { key: 'read_only', schema: readOnlySchema },
  // The loader validated and defaulted the value against readOnlySchema.
  build: (input, setting) => ({ request: createReadOnlyPolicy(input, setting as ReadOnlyConfig) }),
};
