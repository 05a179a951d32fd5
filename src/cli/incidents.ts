import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import type { RampartConfig } from '../config/types.ts';

export const INCIDENTS_USAGE = `Usage: rampart incidents <list|show ID|resolve ID|unblock IP> [-c rampart.yaml] [--admin URL] [options]

  list [--status open|resolved]    incidents, newest first
  show ID                          one incident: evidence, actions, timeline
  resolve ID [--note TEXT]         resolve it and revert its containment (audited)
  unblock IP                       lift a block (audited)

Talks to the running gateway's admin listener (default: listen.admin from the config) with the admin token in
RAMPART_ADMIN_TOKEN, or else the config's own admin.tokens (read_only for list/show, admin for resolve/unblock;
the actor recorded is the token's name).
`;

/** `rampart incidents …` over the admin API. Returns the exit code. */
export async function runIncidents(configFile: string, args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        admin: { type: 'string' },
        status: { type: 'string' },
        note: { type: 'string' },
        // Output is always JSON; `--json` is accepted so scripts can say so.
        json: { type: 'boolean' },
      },
      allowPositionals: true,
    });
  } catch (error) {
    process.stderr.write(`rampart: ${(error as Error).message}\n${INCIDENTS_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, target] = positionals;
  const needsTarget = sub === 'show' || sub === 'resolve' || sub === 'unblock';
  if (!sub || !['list', 'show', 'resolve', 'unblock'].includes(sub) || (needsTarget && !target)) {
    process.stderr.write(INCIDENTS_USAGE);
    return 2;
  }
  const writes = sub === 'resolve' || sub === 'unblock';
  let config: RampartConfig | undefined;
  const loadConfig = (): RampartConfig => (config ??= loadConfigFile(values.config ?? configFile).config);
  let token = process.env['RAMPART_ADMIN_TOKEN'];
  let base = values.admin;
  try {
    // Without RAMPART_ADMIN_TOKEN, the config's own admin token (its reference resolved) serves: the least one
    // that may do the job (read_only for list/show, admin for resolve/unblock).
    if (!token) {
      const tokens = loadConfig().admin.tokens;
      token = (writes ? undefined : tokens.find((t) => t.role === 'read_only'))?.token ?? tokens.find((t) => t.role === 'admin')?.token;
    }
    if (!base) {
      const admin = loadConfig().listen.admin;
      const host = admin.host === '0.0.0.0' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
      base = `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`rampart: ${error.message}\n`);
    return 2;
  }
  if (!token) {
    process.stderr.write(`rampart: no admin token: set RAMPART_ADMIN_TOKEN, or give the config (-c) whose admin.tokens has ${writes ? 'an admin' : 'a read_only or admin'} token\n`);
    return 2;
  }
  const call = async (method: string, path: string, body?: object) => {
    const url = new URL(path, base);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        signal: AbortSignal.timeout(10_000),
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    } catch (error) {
      process.stderr.write(`rampart: cannot reach the admin listener at ${url.origin}: ${(error as Error).message}\n`);
      return 1;
    }
    const text = await res.text();
    if (!res.ok) {
      const hint = res.status === 401 ? ' (RAMPART_ADMIN_TOKEN was refused)' : res.status === 403 ? ' (the token\'s role does not allow this; resolve/unblock need an admin token)' : '';
      process.stderr.write(`rampart: ${method} ${url.pathname} answered ${res.status}${hint}\n${text.endsWith('\n') ? text : text + '\n'}`);
      return 1;
    }
    out.write(text.endsWith('\n') ? text : text + '\n');
    return 0;
  };
  const id = encodeURIComponent(target ?? '');
  switch (sub) {
    case 'list':
      return call('GET', `/admin/v1/incidents${values.status ? `?status=${encodeURIComponent(values.status)}` : ''}`);
    case 'show':
      return call('GET', `/admin/v1/incidents/${id}`);
    case 'resolve':
      return call('POST', `/admin/v1/incidents/${id}/resolve`, { note: values.note });
    default:
      return call('DELETE', `/admin/v1/blocks/${id}`);
  }
}
