import { GatewayError } from '../../problem.ts';
import type { RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { mediaTypeAllowed, mediaTypeOf } from '../../http/media.ts';

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
