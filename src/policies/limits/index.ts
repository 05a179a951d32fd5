import { GatewayError } from '../../problem.ts';
import type { RequestContext, RequestPolicy } from '../../pipeline/types.ts';

/** Lower-cased media type without parameters: `Application/JSON; charset=utf-8` → `application/json`. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** Whether `type` is accepted by an allowlist that may hold `type/*` or `*\/*` entries. */
export function mediaTypeAllowed(allowed: ReadonlySet<string>, type: string): boolean {
  if (allowed.has(type) || allowed.has('*/*')) return true;
  const slash = type.indexOf('/');
  return slash > 0 && allowed.has(`${type.slice(0, slash)}/*`);
}

/**
 * Route-level request limits: a request with a body must declare an accepted media type (415) and must not
 * announce more than the route's body cap (413). Bodies without a length are capped while they stream.
 */
export function createRequestLimitsPolicy(options: { maxBodyBytes: number; contentTypes: ReadonlySet<string> }): RequestPolicy {
  const { maxBodyBytes, contentTypes } = options;
  return {
    name: 'request-limits',
    stage: 'limits',
    run(ctx: RequestContext): void {
      if (!ctx.hasBody) return;
      const declared = ctx.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        throw new GatewayError('payload_too_large', `content-length ${declared} over cap ${maxBodyBytes}`);
      }
      const type = mediaTypeOf(ctx.headers['content-type']);
      if (type === undefined || !mediaTypeAllowed(contentTypes, type)) {
        throw new GatewayError('unsupported_media_type', `media type ${type ?? '(none)'} not accepted by this operation`);
      }
    },
  };
}
