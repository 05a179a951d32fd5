import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse, stringify } from 'yaml';
import type { Consumer, ConsumerPatch, NewConsumer } from '../store/types.ts';
import { actor, withControlPlane } from './keys.ts';

export const APPLY_USAGE = `Usage: rampart apply -f consumers.yaml [--dry-run] [--prune] [-c rampart.yaml]
       rampart export [-c rampart.yaml]

  apply    makes the store's consumers what the file declares: prints the plan (+ create, ~ update with each
           changed field, - delete), then applies it (each change an audited admin event, actor cli:$USER).
           Idempotent: a second run plans nothing. --dry-run prints the plan only; --prune also deletes consumers
           the file does not declare (their keys stop working). Keys are not declared here: they are created with
           \`rampart keys create\` and their secret shown once.
  export   prints every consumer in the file format apply reads (no ids of keys, no secrets).

  File:    consumers:
             - { id: svc-a, name: Service A, tenant: acme, roles: [reader], groups: [], plan: gold, metadata: {} }
`;

const ID = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$';
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
          name: { type: 'string', minLength: 1, maxLength: 256 },
          tenant: { type: ['string', 'null'], maxLength: 128 },
          roles: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', maxLength: 128 } },
          groups: { type: 'array', maxItems: 64, uniqueItems: true, items: { type: 'string', maxLength: 128 } },
          plan: { type: ['string', 'null'], maxLength: 128 },
          metadata: { type: 'object' },
        },
      },
    },
  },
} as const;
const validateFile = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(FILE_SCHEMA);

/** A consumer as the file declares it: the store's new-consumer fields, with the id required. */
type Declared = NewConsumer & { readonly id: string };

/** One planned change. */
export type Change =
  | { readonly op: 'create'; readonly id: string; readonly consumer: NewConsumer }
  | { readonly op: 'update'; readonly id: string; readonly patch: ConsumerPatch; readonly fields: readonly string[] }
  | { readonly op: 'delete'; readonly id: string };

/** The fields of a consumer the file declares, as the store holds them (absent = empty). */
function normalised(d: Declared): Required<Omit<Declared, 'id'>> {
  return { name: d.name, tenant: d.tenant ?? null, roles: d.roles ?? [], groups: d.groups ?? [], plan: d.plan ?? null, metadata: d.metadata ?? {} };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** What to do to turn `current` into `declared` (and, with `prune`, to remove what is not declared). Pure. */
export function planChanges(current: readonly Consumer[], declared: readonly Declared[], prune: boolean): Change[] {
  const byId = new Map(current.map((c) => [c.id, c]));
  const changes: Change[] = [];
  for (const d of declared) {
    const want = normalised(d);
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

function describe(change: Change, current: ReadonlyMap<string, Consumer>): string {
  if (change.op === 'create') return `+ create consumer ${change.id}`;
  if (change.op === 'delete') return `- delete consumer ${change.id} (its keys stop working)`;
  const have = current.get(change.id) as unknown as Record<string, unknown>;
  const fields = change.fields.map((f) => `${f}: ${JSON.stringify(have[f])} → ${JSON.stringify((change.patch as Record<string, unknown>)[f])}`);
  return `~ update consumer ${change.id}: ${fields.join(', ')}`;
}

async function allConsumers(list: (options: { limit: number; after?: string }) => Promise<Consumer[]>): Promise<Consumer[]> {
  const out: Consumer[] = [];
  for (let after: string | undefined; ; ) {
    const page = await list({ limit: 1000, ...(after ? { after } : {}) });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page.at(-1)!.id;
  }
}

/** `rampart apply` / `rampart export`. */
export async function runApply(command: 'apply' | 'export', args: readonly string[], configFile: string, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let values: { file?: string; 'dry-run'?: boolean; prune?: boolean; config?: string };
  try {
    ({ values } = parseArgs({ args: [...args], options: { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' }, prune: { type: 'boolean' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, allowPositionals: false }));
  } catch (error) {
    process.stderr.write(`rampart: ${(error as Error).message}\n${APPLY_USAGE}`);
    return 2;
  }
  const config = values.config ?? configFile;
  if (command === 'export') {
    return withControlPlane(config, false, async ({ store }) => {
      const consumers = await allConsumers((o) => store.listConsumers(o));
      const declared = consumers.map((c) => ({ id: c.id, ...normalised(c) }));
      out.write(stringify({ consumers: declared }));
    });
  }
  if (!values.file) {
    process.stderr.write(`rampart: apply needs -f <file>\n${APPLY_USAGE}`);
    return 2;
  }
  let declared: Declared[];
  try {
    const data: unknown = parse(readFileSync(values.file, 'utf8'));
    if (!validateFile(data)) {
      const first = validateFile.errors![0]!;
      process.stderr.write(`rampart: ${values.file}: ${first.instancePath || '(root)'} ${first.message}\n`);
      return 2;
    }
    declared = (data as { consumers: Declared[] }).consumers;
  } catch (error) {
    process.stderr.write(`rampart: ${values.file}: ${(error as Error).message}\n`);
    return 2;
  }
  const duplicate = declared.find((d, i) => declared.findIndex((e) => e.id === d.id) !== i);
  if (duplicate) {
    process.stderr.write(`rampart: ${values.file}: consumer ${duplicate.id} is declared twice\n`);
    return 2;
  }
  const dryRun = values['dry-run'] === true;
  return withControlPlane(config, !dryRun, async ({ store, actions }) => {
    const current = await allConsumers((o) => store.listConsumers(o));
    const byId = new Map(current.map((c) => [c.id, c]));
    const changes = planChanges(current, declared, values.prune === true);
    if (changes.length === 0) {
      out.write('no changes\n');
      return;
    }
    for (const change of changes) out.write(`${describe(change, byId)}\n`);
    if (dryRun) {
      out.write(`${changes.length} change(s) planned (dry run: nothing applied)\n`);
      return;
    }
    const who = actor();
    for (const change of changes) {
      if (change.op === 'create') await actions.createConsumer(who, change.consumer);
      else if (change.op === 'update') await actions.updateConsumer(who, change.id, change.patch);
      else await actions.deleteConsumer(who, change.id);
    }
    out.write(`${changes.length} change(s) applied\n`);
  });
}
