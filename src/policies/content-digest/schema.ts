import { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../../http/digest.ts';

/** `apis[].content_digest`: declared in the policy registry (src/policies/index.ts), which adds it to the config schema. */
export const contentDigestSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Integrity digests (RFC 9530): `Content-Digest`, and `Repr-Digest` on unencoded bodies, of request bodies checked after authentication (a body that does not match is refused 400 before it reaches the upstream; an operation can require them with `x-rampart-content-digest: required`), and of response bodies on request (`Want-Content-Digest`). See docs/content-digest.md.',
  properties: {
    verify: {
      enum: ['present', 'required', 'off'],
      default: 'present',
      description: '`present`: check the digests a request carries; `required`: also refuse a request body without one (400, with `Want-Content-Digest`); `off`: forward them unchecked.',
    },
    respond: {
      enum: ['on_request', 'off'],
      default: 'on_request',
      description: '`on_request`: a client sending `Want-Content-Digest` (or `Want-Repr-Digest`) with an accepted algorithm gets the digest of the response body as sent: a header on buffered bodies, a trailer on streamed ones when the client takes trailers (HTTP/2, or `TE: trailers`). `off`: never.',
    },
    algorithms: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: [...DIGEST_ALGORITHMS] },
      default: [...DIGEST_ALGORITHMS],
      description: 'Algorithms checked; digests by other algorithms (md5, sha, crc32c…) are ignored, never trusted, and do not satisfy `required`.',
    },
  },
} as const;

export interface ContentDigestConfig {
  readonly verify: 'present' | 'required' | 'off';
  readonly respond: 'on_request' | 'off';
  readonly algorithms: readonly DigestAlgorithm[];
}
