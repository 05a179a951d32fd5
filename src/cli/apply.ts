import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import type { ApiKeyRecord } from '../store/types.ts';
import { actor, withControlPlane } from './keys.ts';
import {
  checkKeyConsumers,
  checkPlans,
  checkUnique,
  describeChange,
  isLive,
  normalisedConsumer,
  planConsumers,
  planKeys,
  PlanError,
  validateFile,
  type Change,
  type DeclaredFile,
} from './apply-plan.ts';

export const APPLY_USAGE = `Usage: rampart apply -f consumers.yaml [--dry-run] [--prune] [--secrets-out FILE] [-c rampart.yaml]
       rampart export [--with-key-hashes] [-c rampart.yaml]

  apply    makes the store's consumers and keys what the file declares: prints the plan (+ create, ~ update
           with each changed field, - delete/revoke), then applies it (each change an audited admin event, actor
           cli:$USER). Idempotent: a second run plans nothing. --dry-run prints the plan only. --prune also deletes
           consumers the file does not declare and, when the file has keys:, revokes live keys it does not name.
           Every plan named must be defined under plans: in the config.
           Keys are never declared with their secret. A key with ref: is created by apply when its consumer has
           no live key with that ref; its secret is written once to --secrets-out (a new file, mode 0600, one JSON
           line per key), never to the terminal. A key with id: is one that exists (made with \`rampart keys
           create\` or the admin API), or one imported with key_hash: (the HMAC from \`export --with-key-hashes\`
           of a store with the same pepper). A key's consumer and secret never change here.
  export   prints every consumer and live key in the file format apply reads (no secrets; key hashes only with
           --with-key-hashes).

  File:    consumers:
             - { id: svc-a, name: Service A, tenant: acme, roles: [reader], groups: [], plan: gold, metadata: {} }
           keys:
             - { ref: deploy-bot, consumer: svc-a, scopes: [orders:read], plan: gold, expires_at: 2027-06-01T00:00:00Z }
             - { id: Vb3kQ9xL2mPa, consumer: svc-a, scopes: [orders:read], metadata: { owner: team-a } }
`;

async function allPages<T extends { id: string }>(list: (options: { limit: number; after?: string }) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let after: string | undefined; ;) {
    const page = await list({ limit: 1000, ...(after ? { after } : {}) });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page.at(-1)!.id;
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Consumers first (a new key needs its consumer), then keys, then key revocations, consumer deletions last. */
const ORDER: Readonly<Record<Change['op'], number>> = {
  create: 0,
  update: 1,
  'key.create': 2,
  'key.import': 2,
  'key.update': 3,
  'key.revoke': 4,
  delete: 5,
};

/** `rampart apply` / `rampart export`. */
export async function runApply(
  command: 'apply' | 'export',
  args: readonly string[],
  configFile: string,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  let values: { file?: string; 'dry-run'?: boolean; prune?: boolean; config?: string; 'secrets-out'?: string; 'with-key-hashes'?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        file: { type: 'string', short: 'f' },
        'dry-run': { type: 'boolean' },
        prune: { type: 'boolean' },
        'secrets-out': { type: 'string' },
        'with-key-hashes': { type: 'boolean' },
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean' },
      },
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`rampart: ${(error as Error).message}\n${APPLY_USAGE}`);
    return 2;
  }
  const config = values.config ?? configFile;
  if (command === 'export') {
    return withControlPlane(config, false, async ({ store }) => {
      const consumers = await allPages((o) => store.listConsumers(o));
      const keys = (await allPages((o) => store.listApiKeys(o))).filter(isLive);
      out.write(
        stringify({
          consumers: consumers.map((c) => ({ id: c.id, ...normalisedConsumer(c) })),
          keys: keys.map((k) => ({
            id: k.id,
            consumer: k.consumerId,
            scopes: k.scopes,
            plan: k.plan,
            expires_at: iso(k.expiresAt),
            metadata: k.metadata,
            ...(values['with-key-hashes'] ? { key_hash: k.keyHash } : {}),
          })),
        }),
      );
    });
  }
  if (!values.file) {
    process.stderr.write(`rampart: apply needs -f <file>\n${APPLY_USAGE}`);
    return 2;
  }
  let declared: DeclaredFile;
  try {
    const data: unknown = parse(readFileSync(values.file, 'utf8'));
    if (!validateFile(data)) {
      const first = validateFile.errors![0]!;
      process.stderr.write(`rampart: ${values.file}: ${first.instancePath || '(root)'} ${first.message}\n`);
      return 2;
    }
    declared = data as unknown as DeclaredFile;
    checkUnique(declared);
  } catch (error) {
    process.stderr.write(`rampart: ${values.file}: ${(error as Error).message}\n`);
    return 2;
  }
  const dryRun = values['dry-run'] === true;
  const secretsOut = values['secrets-out'];
  let code = 0;
  const done = await withControlPlane(config, !dryRun, async ({ store, actions }, rampart) => {
    let changes: Change[];
    const consumers = await allPages((o) => store.listConsumers(o));
    const keys = declared.keys ? await allPages((o) => store.listApiKeys(o)) : [];
    try {
      checkPlans(declared, new Set(Object.keys(rampart.plans)));
      changes = [
        ...planConsumers(consumers, declared.consumers, values.prune === true),
        ...(declared.keys ? planKeys(keys, declared.keys, values.prune === true, Date.now()) : []),
      ];
      checkKeyConsumers(changes, new Set(consumers.map((c) => c.id)));
    } catch (error) {
      if (!(error instanceof PlanError)) throw error;
      process.stderr.write(`rampart: ${values.file}: ${error.message}\n`);
      code = 2;
      return;
    }
    changes.sort((a, b) => ORDER[a.op] - ORDER[b.op]);
    if (changes.length === 0) {
      out.write('no changes\n');
      return;
    }
    const consumerById = new Map(consumers.map((c) => [c.id, c]));
    const keyById = new Map<string, ApiKeyRecord>(keys.map((k) => [k.id, k]));
    for (const change of changes) out.write(`${describeChange(change, consumerById, keyById)}\n`);
    if (dryRun) {
      out.write(`${changes.length} change(s) planned (dry run: nothing applied)\n`);
      return;
    }
    const creates = changes.filter((c) => c.op === 'key.create');
    let delivered = 0;
    if (creates.length > 0) {
      if (!secretsOut) {
        process.stderr.write(
          `rampart: ${creates.length} key(s) to create: give --secrets-out <new file> for their secrets (shown once, never on the terminal)\n`,
        );
        code = 2;
        return;
      }
      // Claimed before any change: a file that exists already is never overwritten (it may hold earlier secrets).
      try {
        writeFileSync(secretsOut, '', { mode: 0o600, flag: 'wx' });
      } catch (error) {
        const reason =
          (error as NodeJS.ErrnoException).code === 'EEXIST'
            ? 'exists already (it is never overwritten)'
            : `cannot be created (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
        process.stderr.write(`rampart: --secrets-out ${secretsOut} ${reason}\n`);
        code = 2;
        return;
      }
    }
    const who = actor();
    for (const change of changes) {
      switch (change.op) {
        case 'create':
          await actions.createConsumer(who, change.consumer);
          break;
        case 'update':
          await actions.updateConsumer(who, change.id, change.patch);
          break;
        case 'delete':
          await actions.deleteConsumer(who, change.id);
          break;
        case 'key.create': {
          const { key, record } = await actions.createKey(who, { consumerId: change.consumer, ...change.fields });
          // Written as each key is made: a secret not delivered at once would be lost for good if a later change failed.
          appendFileSync(secretsOut!, `${JSON.stringify({ ref: change.ref, id: record.id, consumer: record.consumerId, key })}\n`);
          delivered++;
          break;
        }
        case 'key.import':
          await actions.importKey(who, { id: change.id, consumerId: change.consumer, keyHash: change.keyHash, ...change.fields });
          break;
        case 'key.update':
          await actions.updateKey(who, change.id, change.patch);
          break;
        case 'key.revoke':
          await actions.revokeKey(who, change.id);
          break;
      }
    }
    out.write(`${changes.length} change(s) applied${delivered > 0 ? `; ${delivered} new key secret(s) in ${secretsOut}` : ''}\n`);
  });
  return code !== 0 ? code : done;
}
