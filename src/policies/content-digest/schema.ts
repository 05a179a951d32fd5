import { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../../http/digest.ts';

/** `apis[].content_digest`: declared in the policy registry (src/policies/index.ts), which adds it to the config schema. */
export const contentDigestSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Integrity digests of request bodies (RFC 9530 `Content-Digest`, and `Repr-Digest` on unencoded bodies), checked after authentication; a body that does not match is refused 400 before it reaches the upstream. An operation can require them with `x-rampart-content-digest: required` in the spec. See docs/content-digest.md.',
  properties: {
    verify: {
      enum: ['present', 'required', 'off'],
      default: 'present',
      description: '`present`: check the digests a request carries; `required`: also refuse a request body without one (400, with `Want-Content-Digest`); `off`: forward them unchecked.',
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
  readonly algorithms: readonly DigestAlgorithm[];
}
