import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import { parseDictionary } from 'structured-headers';

/** The algorithms of RFC 9530's registry that are not deprecated; the others are never trusted (§6, §7.2). */
export const DIGEST_ALGORITHMS = ['sha-256', 'sha-512'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];
/** {@link DIGEST_ALGORITHMS} as the set `fieldDigests` takes. */
export const ACCEPTED_DIGESTS: ReadonlySet<string> = new Set(DIGEST_ALGORITHMS);

const HASH: Readonly<Record<DigestAlgorithm, { readonly node: string; readonly bytes: number }>> = {
  'sha-256': { node: 'sha256', bytes: 32 },
  'sha-512': { node: 'sha512', bytes: 64 },
};
/** Longest digest field accepted: a few algorithms with 64-byte values fit many times over. */
export const MAX_DIGEST_FIELD_CHARS = 1024;

/** One digest of an accepted algorithm, as a `Content-Digest`/`Repr-Digest` dictionary member carried it. */
export interface FieldDigest {
  readonly algorithm: DigestAlgorithm;
  readonly digest: Buffer;
}

/** Why a digest field could not be read; the message names the field and the problem, never its value. */
export class DigestFieldError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DigestFieldError';
  }
}

/**
 * The digests of accepted algorithms in a digest field (RFC 9530 §2, a structured dictionary of byte sequences).
 * Members of other algorithms are skipped; by RFC 8941 the last of duplicate keys counts.
 * @throws DigestFieldError when the value is over 1024 characters, not a dictionary, or an accepted member is not
 *   a byte sequence of its algorithm's length.
 */
export function fieldDigests(field: string, value: string, accepted: ReadonlySet<string>): FieldDigest[] {
  if (value.length > MAX_DIGEST_FIELD_CHARS) throw new DigestFieldError(`${field} is over ${MAX_DIGEST_FIELD_CHARS} characters`);
  let dictionary: ReturnType<typeof parseDictionary>;
  try {
    dictionary = parseDictionary(value);
  } catch (error) {
    throw new DigestFieldError(`${field} is not a structured dictionary`, { cause: error });
  }
  const out: FieldDigest[] = [];
  for (const [name, member] of dictionary) {
    if (!accepted.has(name)) continue;
    const algorithm = name as DigestAlgorithm;
    const item = member[0];
    if (!(item instanceof ArrayBuffer) || item.byteLength !== HASH[algorithm].bytes) throw new DigestFieldError(`${field} ${algorithm} is not a ${HASH[algorithm].bytes}-byte sequence`);
    out.push({ algorithm, digest: Buffer.from(item) });
  }
  return out;
}

/** Whether `body` hashes to `expected` under its algorithm (constant-time comparison). */
export function digestMatches(expected: FieldDigest, body: Buffer): boolean {
  const actual = createHash(HASH[expected.algorithm].node).update(body).digest();
  return actual.length === expected.digest.length && timingSafeEqual(actual, expected.digest);
}

/** The `Content-Digest` value for `body` with one algorithm (`sha-256=:…:`). */
export function contentDigestOf(body: Buffer, algorithm: DigestAlgorithm = 'sha-256'): string {
  return `${algorithm}=:${createHash(HASH[algorithm].node).update(body).digest('base64')}:`;
}

/**
 * The algorithm a `Want-Content-Digest`/`Want-Repr-Digest` field prefers among `accepted` (RFC 9530 §4: a dictionary
 * of integer preferences 0–10, 0 meaning "not acceptable"; ties go to the order of `accepted`), or undefined when
 * none is wanted. A malformed or oversized field reads as no preference: it only ever asks for more, never less.
 */
export function preferredDigest(value: string | undefined, accepted: readonly DigestAlgorithm[]): DigestAlgorithm | undefined {
  if (value === undefined || value.length > MAX_DIGEST_FIELD_CHARS) return undefined;
  let dictionary: ReturnType<typeof parseDictionary>;
  try {
    dictionary = parseDictionary(value);
  } catch {
    return undefined;
  }
  let best: { algorithm: DigestAlgorithm; weight: number } | undefined;
  for (const algorithm of accepted) {
    const weight = dictionary.get(algorithm)?.[0];
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 10) continue;
    if (!best || weight > best.weight) best = { algorithm, weight };
  }
  return best?.algorithm;
}

/** A running hash of a body as it streams, for a digest sent as a trailer. */
export function digestHash(algorithm: DigestAlgorithm): Hash {
  return createHash(HASH[algorithm].node);
}

/** The field value (`sha-256=:…:`) of a finished hash. */
export function digestFieldOf(algorithm: DigestAlgorithm, hash: Hash): string {
  return `${algorithm}=:${hash.digest('base64')}:`;
}
