import { randomBytes, randomUUID } from 'node:crypto';
import { StoreError, type AdminEvent, type AuditSink, type KeyPatch, type NewConsumer, type NewSignatureKey } from './types.ts';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;

/** Validates consumer input shared by both stores. Throws StoreError `invalid` naming the field. */
export function checkConsumerInput(input: Partial<NewConsumer>, creating: boolean): void {
  if (input.id !== undefined && !ID.test(input.id)) throw new StoreError('invalid', 'id must match ' + ID.source);
  if (creating || input.name !== undefined) {
    if (typeof input.name !== 'string' || input.name.length < 1 || input.name.length > 200) throw new StoreError('invalid', 'name must be 1-200 characters');
  }
  if (input.tenant !== undefined && input.tenant !== null && !LABEL.test(input.tenant)) throw new StoreError('invalid', 'tenant must match ' + LABEL.source);
  if (input.plan !== undefined && input.plan !== null && !LABEL.test(input.plan)) throw new StoreError('invalid', 'plan must match ' + LABEL.source);
  for (const field of ['roles', 'groups'] as const) checkLabels(input[field], field);
  checkMetadata(input.metadata);
}

/** The keyid pattern of signature keys, as for `apis[].auth.signatures.keys` (src/policies/authn-signature/schema.ts). */
export const SIGNATURE_KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,127}$/;
const SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set(['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256']);
/** Longest public key text stored, in characters (as the config's `public_key`). */
export const MAX_PUBLIC_KEY_CHARS = 16384;

/**
 * Validates the shape of a signature key shared by both stores (the key material itself is checked by the caller,
 * which can parse it): keyid and consumer patterns, a known algorithm, a public key for an asymmetric algorithm and
 * a base64url secret of at least 32 bytes for HMAC, never both. Throws StoreError `invalid` naming the field,
 * never the material.
 */
export function checkSignatureKeyInput(key: NewSignatureKey): void {
  if (typeof key.keyid !== 'string' || !SIGNATURE_KEY_ID.test(key.keyid)) throw new StoreError('invalid', 'keyid must match ' + SIGNATURE_KEY_ID.source, { field: 'keyid' });
  if (typeof key.consumerId !== 'string' || !ID.test(key.consumerId)) throw new StoreError('invalid', 'consumer must match ' + ID.source, { field: 'consumer' });
  if (!SIGNATURE_ALGORITHMS.has(key.algorithm)) throw new StoreError('invalid', `algorithm must be one of ${[...SIGNATURE_ALGORITHMS].join(', ')}`, { field: 'algorithm' });
  if (key.algorithm === 'hmac-sha256') {
    if (key.publicKey !== null) throw new StoreError('invalid', 'public_key is not used by hmac-sha256 keys (the gateway generates their secret)', { field: 'public_key' });
    if (typeof key.secret !== 'string' || !/^[A-Za-z0-9_-]{43,}$/.test(key.secret)) throw new StoreError('invalid', 'an hmac-sha256 key needs a base64url secret of at least 32 bytes', { field: 'secret' });
  } else {
    if (key.secret !== null) throw new StoreError('invalid', `${key.algorithm} keys take a public_key, not a secret`, { field: 'secret' });
    if (typeof key.publicKey !== 'string' || key.publicKey.trim().length === 0 || key.publicKey.length > MAX_PUBLIC_KEY_CHARS) {
      throw new StoreError('invalid', `${key.algorithm} keys need a public_key (PEM or JWK, at most ${MAX_PUBLIC_KEY_CHARS} characters)`, { field: 'public_key' });
    }
  }
}

/** Validates a key patch shared by both stores. Throws StoreError `invalid` naming the field. */
export function checkKeyPatch(patch: KeyPatch): void {
  checkLabels(patch.scopes, 'scopes');
  checkMetadata(patch.metadata);
  if (patch.plan !== undefined && patch.plan !== null && !LABEL.test(patch.plan)) throw new StoreError('invalid', 'plan must match ' + LABEL.source);
  if (patch.expiresAt !== undefined && patch.expiresAt !== null && !Number.isSafeInteger(patch.expiresAt)) throw new StoreError('invalid', 'expiresAt must be epoch ms');
}

/** The fields of a patch that are set (undefined = leave as is). */
export function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Scopes/roles/groups: at most 256 labels. */
export function checkLabels(values: readonly string[] | undefined, field: string): void {
  if (values === undefined) return;
  if (!Array.isArray(values) || values.length > 256 || !values.every((v) => typeof v === 'string' && LABEL.test(v))) {
    throw new StoreError('invalid', `${field} must be a list of at most 256 labels matching ${LABEL.source}`);
  }
}

/** Metadata: a JSON object of at most 8 KiB. */
export function checkMetadata(metadata: unknown): void {
  if (metadata === undefined) return;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new StoreError('invalid', 'metadata must be an object');
  if (JSON.stringify(metadata).length > 8192) throw new StoreError('invalid', 'metadata must be at most 8 KiB of JSON');
}

export function newConsumerId(): string {
  return 'c_' + randomBytes(8).toString('hex');
}

export function newEventId(): string {
  return randomUUID();
}

export function pageLimit(limit: number | undefined): number {
  return Math.max(1, Math.min(1000, Math.trunc(limit ?? 100)));
}

/** Hands an event to every sink; a failing sink never breaks the admin action (its error is swallowed here). */
export async function notifySinks(sinks: readonly AuditSink[], event: AdminEvent, onError: (error: unknown) => void): Promise<void> {
  for (const sink of sinks) {
    try {
      await sink(event);
    } catch (error) {
      onError(error);
    }
  }
}
