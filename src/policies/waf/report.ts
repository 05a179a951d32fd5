import type { ApiConfig } from '../../config/types.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import { planOf, scannedFields } from './plan.ts';

/** One row of the `rampart check` WAF report. */
export interface WafReportRow {
  /** `off`, or `block`/`monitor` with the paranoia level (`block p1`). */
  readonly mode: string;
  /** Field pointers scanned (`query/q`, `body/note`, `body/tags/*`, `body/**` for a whole subtree, `(url)` for URL-only). */
  readonly fields: readonly string[];
}

/** What the WAF stage scans on one operation (same plan the policy compiles). */
export function wafReport(api: ApiConfig, operation: SpecOperation | undefined): WafReportRow {
  const config = api.waf;
  if (!config.enabled) return { mode: 'off', fields: [] };
  const mode = `${config.mode} p${config.paranoia}`;
  const headers = config.headers.map((h) => `header/${h.toLowerCase()}`);
  if (!operation) return { mode, fields: ['path/**', 'query/**', ...headers, 'cookie/**', 'body/**'] };
  const plan = planOf(operation, { shortMaxLength: config.short_string_max_length });
  const fields: string[] = [];
  const params = (prefix: string, list: Iterable<{ name: string; node: Parameters<typeof scannedFields>[0] }>) => {
    for (const p of list) scannedFields(p.node, `${prefix}/${p.name}`, fields);
  };
  params('path', plan.path);
  params('query', plan.query.values());
  if (api.validation.additional_properties === 'allow') fields.push('query/<undeclared>');
  for (const h of headers) if (!plan.headers.has(h.slice('header/'.length))) fields.push(h);
  params('header', plan.headers.values());
  params('cookie', plan.cookies.values());
  fields.push('cookie/<undeclared>');
  for (const [type, node] of plan.bodies) scannedFields(node, type === 'application/json' || plan.bodies.size === 1 ? 'body' : `body(${type})`, fields);
  return { mode, fields };
}
