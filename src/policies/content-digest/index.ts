import { ConfigIssueError } from '../../config/errors.ts';
import { digestMatches, DigestFieldError, fieldDigests, preferredDigest, type DigestAlgorithm, type FieldDigest } from '../../http/digest.ts';
import type { PolicyBuildInput, PolicyFactory, RequestContext, RequestPolicy } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import { contentDigestSchema, type ContentDigestConfig } from './schema.ts';

/**
 * Notes the response digests a client wants (Want-Content-Digest, Want-Repr-Digest: the send step adds them) and
 * checks `Content-Digest` (and `Repr-Digest` when the body has no content coding, where the two are the same bytes)
 * against the request body, at the `validate` stage: after authentication, so an anonymous client cannot make the
 * gateway buffer and hash bodies; before validation, so nothing reads a body whose digest is wrong. Every digest of
 * an accepted algorithm must match; others are ignored. Undefined when off.
 * @throws ConfigIssueError on an unknown `x-rampart-content-digest` value in the spec.
 */
export function createContentDigestPolicy(input: PolicyBuildInput, config: ContentDigestConfig): RequestPolicy | undefined {
  const marked = input.operation?.raw['x-rampart-content-digest'];
  if (marked !== undefined && marked !== 'required') {
    throw new ConfigIssueError(`x-rampart-content-digest on operation ${input.operationId}`, `must be "required" (got ${JSON.stringify(marked)})`);
  }
  const respond = config.respond === 'on_request';
  const verify = config.verify !== 'off' || marked !== undefined;
  if (!verify && !respond) return undefined;
  const required = config.verify === 'required' || marked === 'required';
  const accepted = new Set<string>(config.algorithms);
  const want = { 'want-content-digest': config.algorithms.map((a, i) => `${a}=${10 - i}`).join(', ') };
  const limit = input.maxBodyBytes;
  return {
    name: 'content-digest',
    stage: 'validate',
    async run(ctx: RequestContext): Promise<void> {
      if (respond) wantDigests(ctx, config.algorithms);
      if (!verify) return;
      const fields = digestFields(ctx);
      if (fields.length === 0) {
        if (required && ctx.hasBody) throw new GatewayError('digest_required', 'request body without Content-Digest', { headers: want });
        return;
      }
      const expected = fields.flatMap(([name, value]) => acceptedDigests(name, value, accepted));
      if (expected.length === 0) {
        if (required && ctx.hasBody) throw new GatewayError('digest_required', 'no digest of an accepted algorithm', { headers: want });
        return;
      }
      const body = ctx.hasBody ? await ctx.readBody(limit) : Buffer.alloc(0);
      for (const digest of expected) {
        if (!digestMatches(digest, body)) throw new GatewayError('digest_invalid', `${digest.field} ${digest.algorithm} does not match the body`);
      }
    },
  };
}

/** Notes the response digests the client asks for (Want-Content-Digest / Want-Repr-Digest); the send step adds them. */
function wantDigests(ctx: RequestContext, algorithms: readonly DigestAlgorithm[]): void {
  const single = (name: string) => {
    const value = ctx.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const content = preferredDigest(single('want-content-digest'), algorithms);
  const repr = preferredDigest(single('want-repr-digest'), algorithms);
  if (content !== undefined || repr !== undefined) ctx.responseDigests = { content, repr };
}

/** The digest fields that describe the body bytes as received: Repr-Digest only without a content coding. */
function digestFields(ctx: RequestContext): [string, string][] {
  const out: [string, string][] = [];
  const content = ctx.headers['content-digest'];
  if (content !== undefined) out.push(['content-digest', String(content)]);
  const repr = ctx.headers['repr-digest'];
  const encoding = ctx.headers['content-encoding'];
  if (repr !== undefined) {
    // A coded body's representation digest is over the decoded bytes, which the gateway does not decode: refused
    // rather than forwarded unchecked next to a checked Content-Digest.
    if (encoding !== undefined && String(encoding).toLowerCase() !== 'identity') throw new GatewayError('digest_invalid', 'Repr-Digest on a content-coded request body cannot be checked');
    out.push(['repr-digest', String(repr)]);
  }
  return out;
}

function acceptedDigests(field: string, value: string, accepted: ReadonlySet<string>): (FieldDigest & { field: string })[] {
  try {
    return fieldDigests(field, value, accepted).map((digest) => ({ ...digest, field }));
  } catch (error) {
    if (error instanceof DigestFieldError) throw new GatewayError('digest_invalid', error.message, { cause: error });
    throw error;
  }
}

/** The registry entry (src/policies/index.ts): the factory and its `apis[].content_digest` setting. */
export const contentDigestPolicy: PolicyFactory = {
  name: 'content-digest',
  setting: { key: 'content_digest', schema: contentDigestSchema },
  // The loader validated and defaulted the value against contentDigestSchema.
  build: (input, setting) => ({ request: createContentDigestPolicy(input, setting as ContentDigestConfig) }),
};
