import { randomBytes, randomUUID } from 'node:crypto';
import { StoreError, type AdminEvent, type AuditSink, type KeyPatch, type NewConsumer } from './types.ts';

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
