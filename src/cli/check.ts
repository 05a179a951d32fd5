import { ConfigError } from '../config/errors.ts';
import { loadConfigFile, type LoadedConfig } from '../config/load.ts';
import { openControlPlane } from '../admin/api/control-plane.ts';
import { keyringFromConfig } from '../store/encryption/config.ts';
import { createCounters } from '../counters/index.ts';
import { createLogger } from '../log.ts';
import { SpecError } from '../openapi/load.ts';
import { compileRouteTable, type RouteTable } from '../pipeline/compile.ts';
import { POLICY_REGISTRY } from '../policies/index.ts';
import { summariseAuthorization } from '../policies/authz/report.ts';
import { wafReport } from '../policies/waf/index.ts';
import { loginReport } from '../policies/bruteforce/login.ts';
import { stepUpReport } from '../policies/step-up/index.ts';
import { upstreamCredentialReport } from '../policies/upstream-credential/index.ts';
import { fieldLabel, markedFields } from '../policies/password-policy/index.ts';

/** `rampart check`: validates config + specs and prints the compiled route table. Exit 2 on any error. */
export async function runCheck(configFile: string, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  try {
    const loaded = loadConfigFile(configFile);
    const table = await compileDry(loaded);
    out.write(formatRouteTable(table));
    out.write(`\n${formatAuthorizationReport(table)}`);
    out.write(`\n${formatWafReport(table)}`);
    const credentials = formatCredentialReport(table);
    if (credentials) out.write(`\n${credentials}`);
    for (const warning of table.warnings) out.write(`warning: ${warning}\n`);
    out.write(`\nconfig OK: ${table.routes.length} routes${table.warnings.length > 0 ? `, ${table.warnings.length} warning(s)` : ''}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SpecError) {
      process.stderr.write(`rampart: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * Compiles the route table with the services policies need at start: counters in memory (a check needs no Redis)
 * and, when an API accepts API keys, the store (as `start` opens it), so the check fails where `start` would.
 */
async function compileDry(loaded: LoadedConfig): Promise<RouteTable> {
  const logger = createLogger({ level: 'silent' });
  const config = { ...loaded.config, counters: { ...loaded.config.counters, kind: 'memory' as const } };
  const counters = await createCounters(config.counters, logger);
  const needsStore = config.apis.some((api) => (api.auth?.api_keys !== undefined && api.auth.api_keys !== false) || api.self_service_keys.enabled || api.auth?.signatures?.store_keys === true);
  const controlPlane = needsStore ? await openControlPlane(config, loaded.file, logger, { keyring: keyringFromConfig(config.store, loaded.file), withoutVerifier: true }) : undefined;
  try {
    return await compileRouteTable(loaded, { logger, counters, ...(controlPlane ? { store: controlPlane.store, apiKeys: controlPlane.verifier, signatureKeys: controlPlane.signatureKeys, keyIssuer: controlPlane.actions, controlPlane } : {}) }, POLICY_REGISTRY);
  } finally {
    await controlPlane?.close();
    await counters.close();
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
  return formatTable(['API', 'METHOD', 'PATH', 'OPERATION', 'UPSTREAM', 'POLICIES'], rows);
}

/** Per operation: auth methods, scopes, roles, CEL rules and ownership rule; warns about operations anyone may call. */
export function formatAuthorizationReport(table: RouteTable): string {
  const seen = new Set<string>();
  const rows: string[][] = [];
  const warnings: string[] = [];
  for (const route of table.routes) {
    const key = `${route.api.name}:${route.operationId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const s = summariseAuthorization(route);
    rows.push([route.api.name, s.operationId, s.auth, s.scopes, s.roles, s.rules, s.owner]);
    if (s.unprotected) warnings.push(`warning: ${route.api.name} ${route.method} ${route.template} (${s.operationId}) has no authorization at all`);
  }
  return formatTable(['API', 'OPERATION', 'AUTH', 'SCOPES', 'ROLES', 'RULES', 'OWNERSHIP'], rows, warnings);
}

/** Per operation: WAF mode and paranoia, and which fields it scans (constrained fields are left out). */
export function formatWafReport(table: RouteTable): string {
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const route of table.routes) {
    const key = `${route.api.name}:${route.operationId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const report = wafReport(route.api, route.operation);
    rows.push([route.api.name, route.operationId, report.mode, report.fields.join(' ') || '-']);
  }
  return formatTable(['API', 'OPERATION', 'WAF', 'SCANNED FIELDS'], rows);
}

/**
 * Per operation with any of them: the login failure condition, the step-up requirement, a sender-constraint
 * requirement, the password-policy fields and the credential minted for the upstream. Empty when no operation has one.
 */
export function formatCredentialReport(table: RouteTable): string {
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const route of table.routes) {
    const key = `${route.api.name}:${route.operationId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const apiIndex = table.config.apis.indexOf(route.api);
    const login = loginReport({ api: route.api, apiIndex, operationId: route.operationId, operation: route.operation });
    const stepUp = stepUpReport(route.api, route.operationId, route.operation?.raw);
    const minted = upstreamCredentialReport(route.api);
    const constrained = (route.api.operations[route.operationId]?.sender_constraint ?? route.api.auth?.sender_constraint.mode) === 'required' ? 'sender-constrained (DPoP or certificate)' : undefined;
    const passwords = markedFields(route.operation?.requestBody).map((path) => `body/${fieldLabel(path)}`);
    const policy = passwords.length > 0 ? `password policy on ${passwords.join(' ')}` : undefined;
    if (!login && !stepUp && !minted && !constrained && !policy) continue;
    rows.push([route.api.name, route.operationId, [login, stepUp, constrained, policy].filter(Boolean).join('; ') || '-', minted ?? 'client credential forwarded']);
  }
  if (rows.length === 0) return '';
  return formatTable(['API', 'OPERATION', 'CREDENTIAL CONTROLS', 'UPSTREAM CREDENTIAL'], rows);
}

/** Columns padded to their widest cell (the last one not), header first, then `trailer` lines as they are. */
function formatTable(header: readonly string[], rows: readonly string[][], trailer: readonly string[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line), ...trailer].join('\n') + '\n';
}
