import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { openControlPlane, type ControlPlane } from '../admin/api/control-plane.ts';
import { openAuditDb, openAuditService } from '../audit/service.ts';
import { IncidentStore } from '../monitor/incidents.ts';
import { keyringFromConfig } from '../store/encryption/config.ts';
import type { Keyring } from '../store/encryption/keyring.ts';
import { consumerView, keyView } from '../admin/api/actions.ts';
import { StoreError } from '../store/types.ts';
import type { RampartConfig } from '../config/types.ts';

export const actor = () => `cli:${process.env['USER'] ?? 'unknown'}`;
const list = (v: unknown): string[] => (typeof v === 'string' && v !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/**
 * Opens the store named by the config (no background timers; revocations reach gateways by Redis or re-check) and,
 * for changes, the audit trail.
 * Exit codes: 0 done, 1 refused by the store (unknown id, duplicate, bad value), 2 usage or config error.
 */
export async function withControlPlane(
  configFile: string,
  writes: boolean,
  fn: (cp: ControlPlane, config: RampartConfig, context: { readonly file: string; readonly keyring: Keyring }) => Promise<void>,
): Promise<number> {
  let loaded: ReturnType<typeof loadConfigFile>;
  let keyring: Keyring;
  try {
    loaded = loadConfigFile(configFile);
    keyring = keyringFromConfig(loaded.config.store, loaded.file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`rampart: ${error.message}\n`);
    return 2;
  }
  const { config, file } = loaded;
  const logger = createLogger({ level: 'warn', destination: process.stderr });
  // Changes made here go into the same hash-chained audit trail as the admin API's (appends lock the chain tail,
  // so a running gateway and the CLI extend it in turn).
  const audit = writes && config.audit.enabled ? await openAuditService(config.audit, file, logger, Date.now, { writer: 'inline' }) : undefined;
  let code: number;
  try {
    const cp = await openControlPlane(config, file, logger, { keyring, withoutVerifier: true, ...(audit ? { audit: audit.log } : {}) });
    try {
      await fn(cp, config, { file, keyring });
      code = 0;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      process.stderr.write(`rampart: ${error.message}\n`);
      code = 1;
    } finally {
      await cp.close();
    }
    if (audit) {
      await audit.log.durable().catch((error: unknown) => {
        process.stderr.write(`rampart: the change was made but its audit record could not be written: ${(error as Error).message}\n`);
        code = 1;
      });
    }
  } finally {
    await audit?.close();
  }
  return code;
}

export const KEYS_USAGE =
  'Usage: rampart keys create --consumer ID [--scopes a,b] [--expires-in 30d] [--plan P] | list [--consumer ID] | rotate KEY_ID [--grace 24h] | revoke KEY_ID | rotate-kek  [-c rampart.yaml]\n' +
  '  rotate-kek   re-wrap every data key (store and incidents) under store.encryption.active, online; prints the data keys by KEK';
export const CONSUMERS_USAGE = 'Usage: rampart consumers create --name N [--id ID] [--tenant T] [--roles a,b] [--groups a,b] [--plan P] | list [--tenant T] | delete ID  [-c rampart.yaml]';

function usage(text: string, problem?: string): number {
  process.stderr.write(`${problem ? `rampart: ${problem}\n` : ''}${text}\n`);
  return 2;
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** Strict option parsing; an unknown or malformed option prints the usage (exit 2) instead of a stack trace. */
function parse<O extends Options>(args: string[], options: O, text: string) {
  try {
    return parseArgs({ args, options: { ...options, config: { type: 'string', short: 'c' }, json: { type: 'boolean' } } as O & { config: { type: 'string'; short: 'c' }; json: { type: 'boolean' } }, allowPositionals: true });
  } catch (error) {
    usage(text, (error as Error).message);
    return undefined;
  }
}

/** Parses a duration like `30d`, `12h`, `15m`, `90s` into ms. */
function duration(text: string): number {
  const match = /^([0-9]{1,6})(s|m|h|d)$/.exec(text);
  if (!match) throw new StoreError('invalid', `bad duration "${text}" (use e.g. 90s, 15m, 12h, 30d)`);
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

/** `rampart keys create|list|rotate|revoke`: the secret is printed once, on create and rotate. */
export async function runKeys(args: string[], configFile: string): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || !['create', 'list', 'rotate', 'revoke', 'rotate-kek'].includes(sub)) return usage(KEYS_USAGE);
  const parsed = parse(rest, { consumer: { type: 'string' }, scopes: { type: 'string' }, 'expires-in': { type: 'string' }, plan: { type: 'string' }, grace: { type: 'string' } }, KEYS_USAGE);
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  return withControlPlane(values.config ?? configFile, sub !== 'list', async ({ actions, store }, config, { file, keyring }) => {
    switch (sub) {
      case 'rotate-kek': {
        const result = await rotateKek(store, config, file, keyring);
        await actions.record(actor(), 'kek.rotate', 'keyring', keyring.activeId, { rewrapped: result.rewrapped, data_keys_by_kek: result.byKek });
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      case 'create': {
        if (!values.consumer) throw new StoreError('invalid', 'keys create needs --consumer <id>');
        const { key, record } = await actions.createKey(actor(), {
          consumerId: values.consumer,
          scopes: list(values.scopes),
          expiresAt: values['expires-in'] ? Date.now() + duration(values['expires-in']) : null,
          plan: values.plan ?? null,
        });
        process.stdout.write(`${JSON.stringify({ key, ...keyView(record) }, null, 2)}\n`);
        process.stderr.write('The key is shown once; store it now.\n');
        return;
      }
      case 'list': {
        const keys = await store.listApiKeys({ ...(values.consumer ? { consumerId: values.consumer } : {}), limit: 1000 });
        process.stdout.write(`${JSON.stringify(keys.map((k) => keyView(k)), null, 2)}\n`);
        return;
      }
      case 'rotate': {
        const id = positionals[0];
        if (!id) throw new StoreError('invalid', 'keys rotate needs a key id');
        const { key, record, old } = await actions.rotateKey(actor(), id, values.grace ? { graceMs: duration(values.grace) } : {});
        process.stdout.write(`${JSON.stringify({ key, ...keyView(record), previous: keyView(old) }, null, 2)}\n`);
        process.stderr.write('The new key is shown once; store it now.\n');
        return;
      }
      case 'revoke': {
        const id = positionals[0];
        if (!id) throw new StoreError('invalid', 'keys revoke needs a key id');
        process.stdout.write(`${JSON.stringify(keyView(await actions.revokeKey(actor(), id)), null, 2)}\n`);
        return;
      }
      default:
        throw new StoreError('invalid', KEYS_USAGE);
    }
  });
}

/**
 * Re-wraps the data keys of the store and of the audit database (incidents) under the active KEK. Online: the
 * data keys do not change, so running gateways keep reading (they hold them unwrapped), and a gateway starting
 * meanwhile reads either wrapping as long as both KEKs are configured.
 */
async function rotateKek(store: ControlPlane['store'], config: RampartConfig, file: string, keyring: Keyring) {
  const reports = [await store.rotateKek()];
  if (config.audit.enabled) {
    const db = await openAuditDb(config.audit, file);
    try {
      const incidents = new IncidentStore(db, keyring);
      await incidents.init();
      reports.push(await incidents.rotateKek());
    } finally {
      await db.close();
    }
  }
  const byKek: Record<string, number> = {};
  for (const report of reports) for (const [kek, count] of Object.entries(report.byKek)) byKek[kek] = (byKek[kek] ?? 0) + count;
  return { active: keyring.activeId, rewrapped: reports.reduce((n, r) => n + r.rewrapped.length, 0), byKek, databases: reports.map((r, i) => ({ database: i === 0 ? 'store' : 'audit', ...r })) };
}

/** `rampart consumers create|list|delete`. */
export async function runConsumers(args: string[], configFile: string): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || !['create', 'list', 'delete'].includes(sub)) return usage(CONSUMERS_USAGE);
  const parsed = parse(rest, { id: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' }, roles: { type: 'string' }, groups: { type: 'string' }, plan: { type: 'string' } }, CONSUMERS_USAGE);
  if (!parsed) return 2;
  const { values, positionals } = parsed;
  return withControlPlane(values.config ?? configFile, sub !== 'list', async ({ actions, store }) => {
    switch (sub) {
      case 'create': {
        const name = values.name ?? values.id;
        if (!name) throw new StoreError('invalid', 'consumers create needs --name (and optionally --id)');
        const consumer = await actions.createConsumer(actor(), {
          ...(values.id ? { id: values.id } : {}),
          name,
          tenant: values.tenant ?? null,
          roles: list(values.roles),
          groups: list(values.groups),
          plan: values.plan ?? null,
        });
        process.stdout.write(`${JSON.stringify(consumerView(consumer), null, 2)}\n`);
        return;
      }
      case 'list': {
        const consumers = await store.listConsumers({ ...(values.tenant ? { tenant: values.tenant } : {}), limit: 1000 });
        process.stdout.write(`${JSON.stringify(consumers.map(consumerView), null, 2)}\n`);
        return;
      }
      case 'delete': {
        const id = positionals[0];
        if (!id) throw new StoreError('invalid', 'consumers delete needs an id');
        await actions.deleteConsumer(actor(), id);
        process.stdout.write(`deleted ${id} (its keys are revoked)\n`);
        return;
      }
      default:
        throw new StoreError('invalid', CONSUMERS_USAGE);
    }
  });
}
