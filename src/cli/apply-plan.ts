/**
 * The pure half of `rampart apply`: the file's schema, and the plan that turns what the store holds into what the
 * file declares (consumers, then keys). Nothing here touches the store; apply.ts reads it, prints the plan and
 * carries it out.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { isDateTime } from '../openapi/ajv.ts';
import type { ApiKeyRecord, Consumer, ConsumerPatch, KeyPatch, NewConsumer } from '../store/types.ts';

// The store's own rules (store/common.ts), so a file that validates here cannot fail half-way through the apply.
const ID = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const LABEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$';
const LABELS = { type: 'array', maxItems: 256, uniqueItems: true, items: { type: 'string', pattern: LABEL_PATTERN } } as const;
const LABEL = { type: ['string', 'null'], pattern: LABEL_PATTERN } as const;
const METADATA_MAX = 8192;
/** Where a key created by apply keeps the file's name for it (how a second run finds it again). */
export const REF_FIELD = 'rampart_ref';

const FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['consumers'],
  properties: {
    consumers: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name'],
        properties: {
          id: { type: 'string', pattern: ID },
          name: { type: 'string', minLength: 1, maxLength: 200 },
          tenant: LABEL,
          roles: LABELS,
          groups: LABELS,
          plan: LABEL,
          metadata: { type: 'object' },
        },
      },
    },
    keys: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['consumer'],
        // A key is named by the file (`ref`: created here, its secret delivered once) or by its id (made elsewhere,
        // or imported with its hash).
        oneOf: [{ required: ['ref'] }, { required: ['id'] }],
        dependentRequired: { key_hash: ['id'] },
        properties: {
          ref: { type: 'string', pattern: ID },
          id: { type: 'string', pattern: '^[0-9A-Za-z]{12}$' },
          consumer: { type: 'string', pattern: ID },
          scopes: LABELS,
          plan: LABEL,
          expires_at: { type: ['string', 'null'], format: 'date-time' },
          metadata: { type: 'object' },
          key_hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
    },
  },
} as const;
// strictRequired off: the oneOf branches name properties declared once, beside them.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
export const validateFile = ajv.compile(FILE_SCHEMA);

/** A consumer as the file declares it: the store's new-consumer fields, with the id required. */
export type DeclaredConsumer = NewConsumer & { readonly id: string };

/** A key as the file declares it. */
export interface DeclaredKey {
  readonly ref?: string;
  readonly id?: string;
  readonly consumer: string;
  readonly scopes?: readonly string[];
  readonly plan?: string | null;
  readonly expires_at?: string | null;
  readonly metadata?: Record<string, unknown>;
  readonly key_hash?: string;
}

export interface DeclaredFile {
  readonly consumers: readonly DeclaredConsumer[];
  /** Absent: keys are not managed by this file (and --prune leaves them alone). */
  readonly keys?: readonly DeclaredKey[];
}

/** The key fields apply manages, as the store holds them. */
export interface KeyFields {
  readonly scopes: readonly string[];
  readonly plan: string | null;
  readonly expiresAt: number | null;
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** One planned change. */
export type Change =
  | { readonly op: 'create'; readonly id: string; readonly consumer: NewConsumer }
  | { readonly op: 'update'; readonly id: string; readonly patch: ConsumerPatch; readonly fields: readonly string[] }
  | { readonly op: 'delete'; readonly id: string }
  | { readonly op: 'key.create'; readonly ref: string; readonly consumer: string; readonly fields: KeyFields }
  | { readonly op: 'key.import'; readonly id: string; readonly consumer: string; readonly keyHash: string; readonly fields: KeyFields }
  | { readonly op: 'key.update'; readonly id: string; readonly patch: KeyPatch; readonly fields: readonly string[] }
  | { readonly op: 'key.revoke'; readonly id: string; readonly consumer: string };

/** A file that cannot be applied as written: the message names the entry and the fix. */
export class PlanError extends Error {}

/** The fields of a consumer the file declares, as the store holds them (absent = empty). */
export function normalisedConsumer(d: NewConsumer): Required<Omit<NewConsumer, 'id'>> {
  return {
    name: d.name,
    tenant: d.tenant ?? null,
    roles: d.roles ?? [],
    groups: d.groups ?? [],
    plan: d.plan ?? null,
    metadata: d.metadata ?? {},
  };
}

function keyFields(d: DeclaredKey): KeyFields {
  return {
    scopes: d.scopes ?? [],
    plan: d.plan ?? null,
    expiresAt: d.expires_at ? Date.parse(d.expires_at) : null,
    metadata: d.ref !== undefined ? { ...d.metadata, [REF_FIELD]: d.ref } : (d.metadata ?? {}),
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** A key still in use: not revoked and not the old half of a rotation (that one goes when its grace ends). */
export function isLive(key: ApiKeyRecord): boolean {
  return key.revokedAt === null && key.replacedBy === null;
}

/** Every plan a declared consumer or key names must exist under `plans:` (a typo would silently mean no plan limit). */
export function checkPlans(file: DeclaredFile, plans: ReadonlySet<string>): void {
  const named = [
    ...file.consumers.map((c) => [`consumer ${c.id}`, c.plan] as const),
    ...(file.keys ?? []).map((k) => [`key ${k.ref ?? k.id}`, k.plan] as const),
  ];
  for (const [what, plan] of named) {
    if (plan !== undefined && plan !== null && !plans.has(plan)) {
      throw new PlanError(
        `${what}: plan ${plan} is not defined under plans in the config${plans.size > 0 ? ` (defined: ${[...plans].join(', ')})` : ''}`,
      );
    }
  }
}

/** Every id and ref once, and metadata within the store's 8 KiB. */
export function checkUnique(file: DeclaredFile): void {
  for (const entry of [...file.consumers, ...(file.keys ?? [])]) {
    if (entry.metadata !== undefined && JSON.stringify(entry.metadata).length > METADATA_MAX) {
      throw new PlanError(`${'name' in entry ? `consumer ${entry.id}` : `key ${(entry as DeclaredKey).ref ?? entry.id}`}: metadata over ${METADATA_MAX} bytes of JSON`);
    }
  }
  const ids = new Set<string>();
  for (const c of file.consumers) {
    if (ids.has(c.id)) throw new PlanError(`consumer ${c.id} is declared twice`);
    ids.add(c.id);
  }
  const keys = new Set<string>();
  for (const k of file.keys ?? []) {
    const name = k.ref !== undefined ? `ref ${k.ref}` : `id ${k.id!}`;
    if (keys.has(name)) throw new PlanError(`key ${name} is declared twice`);
    keys.add(name);
  }
}

/** What to do to turn `current` consumers into the declared ones (and, with `prune`, to remove the others). */
export function planConsumers(current: readonly Consumer[], declared: readonly DeclaredConsumer[], prune: boolean): Change[] {
  const byId = new Map(current.map((c) => [c.id, c]));
  const changes: Change[] = [];
  for (const d of declared) {
    const want = normalisedConsumer(d);
    const have = byId.get(d.id);
    if (!have) {
      changes.push({ op: 'create', id: d.id, consumer: { id: d.id, ...want } });
      continue;
    }
    const patch: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(want)) {
      if (!same((have as unknown as Record<string, unknown>)[field], value)) patch[field] = value;
    }
    if (Object.keys(patch).length > 0) changes.push({ op: 'update', id: d.id, patch: patch as ConsumerPatch, fields: Object.keys(patch) });
  }
  if (prune) {
    const wanted = new Set(declared.map((d) => d.id));
    for (const c of current) if (!wanted.has(c.id)) changes.push({ op: 'delete', id: c.id });
  }
  return changes;
}

/**
 * What to do to the store's keys for the declared ones. A `ref` key is found among its consumer's live keys by the
 * ref kept in its metadata, created when there is none; an `id` key must exist, or be imported with `key_hash`. A
 * key never changes consumer or secret here. With `prune`, live keys no entry names are revoked.
 */
export function planKeys(current: readonly ApiKeyRecord[], declared: readonly DeclaredKey[], prune: boolean, now: number): Change[] {
  const byId = new Map(current.map((k) => [k.id, k]));
  const byRef = new Map<string, ApiKeyRecord[]>();
  for (const key of current) {
    const ref = key.metadata[REF_FIELD];
    if (typeof ref !== 'string' || !isLive(key)) continue;
    const slot = `${key.consumerId}\u0000${ref}`;
    byRef.set(slot, [...(byRef.get(slot) ?? []), key]);
  }
  const changes: Change[] = [];
  const matched = new Set<string>();
  const claimedBy = new Map<string, string>();
  for (const d of declared) {
    const want = keyFields(d);
    const expired = want.expiresAt !== null && want.expiresAt <= now;
    const name = d.ref !== undefined ? `key ref ${d.ref}` : `key ${d.id!}`;
    let have: ApiKeyRecord | undefined;
    if (d.ref !== undefined) {
      const found = byRef.get(`${d.consumer}\u0000${d.ref}`) ?? [];
      if (found.length > 1)
        throw new PlanError(
          `key ref ${d.ref}: ${found.length} live keys of ${d.consumer} carry it (${found.map((k) => k.id).join(', ')}); revoke all but one`,
        );
      have = found[0];
      if (!have) {
        if (expired) throw new PlanError(`${name}: expires_at is in the past`);
        changes.push({ op: 'key.create', ref: d.ref, consumer: d.consumer, fields: want });
        continue;
      }
    } else {
      have = byId.get(d.id!);
      if (!have) {
        if (d.key_hash === undefined)
          throw new PlanError(
            `key ${d.id!} does not exist: declare a new key with ref: (its secret is delivered once), or import this one with key_hash:`,
          );
        if (expired) throw new PlanError(`${name}: expires_at is in the past`);
        changes.push({ op: 'key.import', id: d.id!, consumer: d.consumer, keyHash: d.key_hash, fields: want });
        matched.add(d.id!);
        continue;
      }
      if (have.revokedAt !== null) throw new PlanError(`key ${have.id} is revoked: remove it from the file`);
      if (d.key_hash !== undefined && d.key_hash !== have.keyHash)
        throw new PlanError(`key ${have.id}: key_hash differs from the stored key's (a key's secret cannot change: rotate it)`);
      // A key rotated since the file was written: the file's entry is its live successor now (--prune must not
      // revoke the key that replaced it); the outgoing one runs out its grace.
      for (let hops = 0; have.replacedBy !== null && hops < 100; hops++) {
        matched.add(have.id);
        const next = byId.get(have.replacedBy);
        if (!next || next.revokedAt !== null) throw new PlanError(`key ${d.id!} was rotated to ${have.replacedBy}, which is gone: declare the new key instead`);
        have = next;
      }
    }
    if (have.consumerId !== d.consumer)
      throw new PlanError(`key ${have.id} belongs to consumer ${have.consumerId}, the file says ${d.consumer} (a key cannot move)`);
    // One stored key named by two entries (its ref and its id): their fields would fight on every run.
    const other = claimedBy.get(have.id);
    if (other !== undefined) throw new PlanError(`key ${have.id} is declared twice (${other} and ${name}): keep one entry`);
    claimedBy.set(have.id, name);
    matched.add(have.id);
    const patch: Record<string, unknown> = {};
    const haveFields: KeyFields = { scopes: have.scopes, plan: have.plan, expiresAt: have.expiresAt, metadata: have.metadata };
    for (const field of ['scopes', 'plan', 'expiresAt', 'metadata'] as const) {
      if (!same(sorted(haveFields[field]), sorted(want[field]))) patch[field] = want[field];
    }
    if ('expiresAt' in patch && expired) throw new PlanError(`${name}: expires_at is in the past`);
    if (Object.keys(patch).length > 0)
      changes.push({ op: 'key.update', id: have.id, patch: patch as KeyPatch, fields: Object.keys(patch) });
  }
  if (prune) {
    for (const key of current)
      if (isLive(key) && !matched.has(key.id)) changes.push({ op: 'key.revoke', id: key.id, consumer: key.consumerId });
  }
  return changes;
}

/** Each new or imported key's consumer exists after the consumer changes (and is not deleted by them). */
export function checkKeyConsumers(changes: readonly Change[], existing: ReadonlySet<string>): void {
  const after = new Set(existing);
  for (const c of changes) if (c.op === 'create') after.add(c.id);
  for (const c of changes) if (c.op === 'delete') after.delete(c.id);
  for (const c of changes) {
    if ((c.op === 'key.create' || c.op === 'key.import') && !after.has(c.consumer)) {
      throw new PlanError(
        `key ${c.op === 'key.create' ? `ref ${c.ref}` : c.id}: consumer ${c.consumer} does not exist and the file does not declare it`,
      );
    }
  }
}

/** Objects compared regardless of key order (metadata read back from the store may be reordered). */
function sorted(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
  );
}

/** One line of the printed plan. */
export function describeChange(change: Change, consumers: ReadonlyMap<string, Consumer>, keys: ReadonlyMap<string, ApiKeyRecord>): string {
  switch (change.op) {
    case 'create':
      return `+ create consumer ${change.id}`;
    case 'delete':
      return `- delete consumer ${change.id} (its keys stop working)`;
    case 'update': {
      const have = consumers.get(change.id) as unknown as Record<string, unknown>;
      const fields = change.fields.map(
        (f) => `${f}: ${JSON.stringify(have[f])} → ${JSON.stringify((change.patch as Record<string, unknown>)[f])}`,
      );
      return `~ update consumer ${change.id}: ${fields.join(', ')}`;
    }
    case 'key.create':
      return `+ create key ${change.ref} for ${change.consumer} (secret written once to --secrets-out)`;
    case 'key.import':
      return `+ import key ${change.id} for ${change.consumer} (by hash)`;
    case 'key.update': {
      const have = keys.get(change.id) as unknown as Record<string, unknown>;
      const fields = change.fields.map(
        (f) => `${f}: ${JSON.stringify(have[f])} → ${JSON.stringify((change.patch as Record<string, unknown>)[f])}`,
      );
      return `~ update key ${change.id}: ${fields.join(', ')}`;
    }
    case 'key.revoke':
      return `- revoke key ${change.id} of ${change.consumer}`;
  }
}
