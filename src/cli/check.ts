import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { createLogger } from '../log.ts';
import { SpecError } from '../openapi/load.ts';
import { compileRouteTable, type RouteTable } from '../pipeline/compile.ts';

/** `rampart check`: validates config + specs and prints the compiled route table. Exit 2 on any error. */
export async function runCheck(configFile: string, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  try {
    const loaded = loadConfigFile(configFile);
    const table = await compileRouteTable(loaded, { logger: createLogger({ level: 'silent' }) });
    out.write(formatRouteTable(table));
    out.write(`\nconfig OK: ${table.routes.length} routes\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SpecError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** One line per route: API, method, path, operationId, upstream, policies in stage order. */
export function formatRouteTable(table: RouteTable): string {
  const rows = table.routes.map((r) => [
    r.api.name,
    r.method,
    (r.api.base_path === '/' ? '' : r.api.base_path) + r.template,
    r.operationId,
    r.upstreamName,
    [...r.policies.map((p) => `${p.stage}:${p.name}`), ...r.responsePolicies.map((p) => `response:${p.name}`)].join(' ') || '-',
  ]);
  const header = ['API', 'METHOD', 'PATH', 'OPERATION', 'UPSTREAM', 'POLICIES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
