import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { openControlPlane, type ControlPlane } from '../admin/api/control-plane.ts';
import { consumerView, keyView } from '../admin/api/actions.ts';
import { StoreError } from '../store/types.ts';

const actor = () => `cli:${process.env['USER'] ?? 'unknown'}`;
const list = (v: unknown): string[] => (typeof v === 'string' && v !== '' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** Opens the store named by the config (no background timers; revocations reach gateways by Redis or re-check). */
async function withControlPlane(configFile: string, fn: (cp: ControlPlane) => Promise<void>): Promise<number> {
  const { config, file } = loadConfigFile(configFile);
  const cp = await openControlPlane(config, file, createLogger({ level: 'warn', destination: process.stderr }), { withoutVerifier: true });
  try {
    await fn(cp);
    return 0;
  } catch (error) {
    if (error instanceof StoreError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await cp.close();
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
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, consumer: { type: 'string' }, scopes: { type: 'string' }, 'expires-in': { type: 'string' }, plan: { type: 'string' }, grace: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  return withControlPlane(values.config ?? configFile, async ({ actions, store }) => {
    switch (sub) {
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
        throw new StoreError('invalid', 'usage: rampart keys create --consumer ID [--scopes a,b] [--expires-in 30d] | list [--consumer ID] | rotate KEY_ID [--grace 24h] | revoke KEY_ID');
    }
  });
}

/** `rampart consumers create|list|delete`. */
export async function runConsumers(args: string[], configFile: string): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, id: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' }, roles: { type: 'string' }, groups: { type: 'string' }, plan: { type: 'string' } },
    allowPositionals: true,
  });
  return withControlPlane(values.config ?? configFile, async ({ actions, store }) => {
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
        throw new StoreError('invalid', 'usage: rampart consumers create --name N [--id ID] [--tenant T] [--roles a,b] [--plan P] | list [--tenant T] | delete ID');
    }
  });
}
