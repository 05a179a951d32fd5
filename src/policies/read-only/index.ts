import type { PolicyBuildInput, PolicyFactory, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { readOnlySchema, type ReadOnlyConfig } from './schema.ts';

/** RFC 9110 §9.2.1 safe methods the router passes (TRACE never reaches a policy). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses every unsafe method while `apis[].read_only.enabled` is on: 503 `read_only` with `Retry-After`.
 * Undefined (no per-request cost) when it is off or the route's method is safe.
 */
export function createReadOnlyPolicy(input: PolicyBuildInput, config: ReadOnlyConfig): RequestPolicy | undefined {
  if (!config.enabled || SAFE.has(input.method)) return undefined;
  const headers = { 'retry-after': String(config.retry_after_seconds) };
  return {
    name: 'read-only',
    // Before authentication: a write refused anyway needs no credential checked, no counter spent.
    stage: 'ip_filter',
    run() {
      throw new GatewayError('read_only', `API ${input.api.name} is read-only`, { headers });
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
