import type { RequestContext, RequestPolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import type { ConcurrencyConfig } from './schema.ts';

/**
 * In-flight counts of one gateway process, shared by every route and kept across reloads (a request admitted under
 * the old table releases its slot in the same map). An entry exists only while a request holds it: bounded by the
 * number of requests in flight.
 */
export class InFlight {
  readonly #counts = new Map<string, number>();

  /** Takes a slot for `key` if fewer than `max` are held; returns whether it did. */
  acquire(key: string, max: number): boolean {
    const held = this.#counts.get(key) ?? 0;
    if (held >= max) return false;
    this.#counts.set(key, held + 1);
    return true;
  }

  release(key: string): void {
    const held = this.#counts.get(key) ?? 0;
    if (held <= 1) this.#counts.delete(key);
    else this.#counts.set(key, held - 1);
  }

  /** Current counts, for the admin API. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#counts);
  }
}

/** The process-wide in-flight table. */
export const inFlight = new InFlight();

function keyFn(config: ConcurrencyConfig, scope: string): (ctx: RequestContext) => string {
  switch (config.key) {
    case 'route':
      return () => scope;
    case 'ip':
      return (ctx) => `${scope}|ip:${ctx.clientIp}`;
    case 'api_key':
      return (ctx) => (ctx.identity?.keyId === undefined ? `${scope}|ip:${ctx.clientIp}` : `${scope}|k:${ctx.identity.keyId}`);
    case 'consumer':
      return (ctx) => {
        const who = ctx.identity?.consumer ?? ctx.identity?.subject;
        return who === undefined ? `${scope}|ip:${ctx.clientIp}` : `${scope}|c:${who}`;
      };
  }
}

/**
 * Concurrency limit (`apis[].concurrency`, per operation overridable): at most `max_in_flight` requests per key
 * at once in this process; the slot is released when the response closes (finished, failed or aborted). Past the
 * limit: 429 `too_many_concurrent` or 503, as configured. Runs after authentication so it can key by consumer.
 */
export function createConcurrencyPolicy(input: PolicyBuildInput, table: InFlight = inFlight): RequestPolicy | undefined {
  const override = input.api.operations[input.operationId]?.concurrency;
  const config = override ?? input.api.concurrency;
  if (!config) return undefined;
  const scope = override ? `cc:${input.api.name}:${input.operationId}` : config.key === 'route' ? `cc:${input.api.name}:${input.operationId}` : `cc:${input.api.name}`;
  const keyOf = keyFn(config, scope);
  const max = config.max_in_flight;
  const code = config.status === 503 ? 'service_unavailable' : 'too_many_concurrent';
  return {
    name: 'concurrency',
    stage: 'post_auth_rate_limit',
    run(ctx: RequestContext): void {
      const key = keyOf(ctx);
      if (!table.acquire(key, max)) {
        throw new GatewayError(code, `more than ${max} requests in flight for this key`, { headers: { 'retry-after': '1' } });
      }
      // A response that closed already (client gone) will not emit 'close' again: release at once.
      if ((ctx.res as { closed?: boolean }).closed === true) table.release(key);
      else ctx.res.once('close', () => table.release(key));
    },
  };
}
