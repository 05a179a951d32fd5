import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load.ts';

const USAGE = `Usage: rampart incidents <list|show ID|resolve ID|unblock IP> [-c rampart.yaml] [--admin URL] [options]

  list [--status open|resolved]    incidents, newest first
  show ID                          one incident: evidence, actions, timeline
  resolve ID [--note TEXT]         resolve it and revert its containment (audited)
  unblock IP                       lift a block (audited)

Talks to the running gateway's admin listener (default: listen.admin from the config) with the admin token in
RAMPART_ADMIN_TOKEN (read_only for list/show, admin for resolve/unblock; the actor recorded is the token's name).
`;

/** `rampart incidents …` over the admin API. Returns the exit code. */
export async function runIncidents(configFile: string, args: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string', short: 'c' },
      admin: { type: 'string' },
      status: { type: 'string' },
      note: { type: 'string' },
    },
    allowPositionals: true,
  });
  const [sub, target] = positionals;
  const needsTarget = sub === 'show' || sub === 'resolve' || sub === 'unblock';
  if (!sub || !['list', 'show', 'resolve', 'unblock'].includes(sub) || (needsTarget && !target)) {
    process.stderr.write(USAGE);
    return 2;
  }
  let base = values.admin;
  if (!base) {
    const admin = loadConfigFile(values.config ?? configFile).config.listen.admin;
    base = `http://${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;
  }
  const call = async (method: string, path: string, body?: object) => {
    const res = await fetch(new URL(path, base), {
      method,
      signal: AbortSignal.timeout(10_000),
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(process.env['RAMPART_ADMIN_TOKEN'] ? { authorization: `Bearer ${process.env['RAMPART_ADMIN_TOKEN']}` } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    out.write(text.endsWith('\n') ? text : text + '\n');
    return res.ok ? 0 : 1;
  };
  const id = encodeURIComponent(target ?? '');
  switch (sub) {
    case 'list':
      return call('GET', `/admin/incidents${values.status ? `?status=${encodeURIComponent(values.status)}` : ''}`);
    case 'show':
      return call('GET', `/admin/incidents/${id}`);
    case 'resolve':
      return call('POST', `/admin/incidents/${id}/resolve`, { note: values.note });
    default:
      return call('DELETE', `/admin/blocks/${id}`);
  }
}
