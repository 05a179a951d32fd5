import { createOpenApiAjv } from '../../openapi/ajv.ts';
import type { PolicyBuildInput } from '../../pipeline/types.ts';
import { loginSchema, type LoginConfig } from './schema.ts';
import { withSchemaDefaults } from '../../config/defaults.ts';
import { ConfigIssueError } from '../../config/errors.ts';

const validateSpecLogin = createOpenApiAjv().compile(loginSchema);

/** A login marker and the path it came from, for errors and warnings. */
export interface LoginMarker {
  readonly config: LoginConfig;
  readonly at: string;
}

/**
 * The login marker of a route: `apis[].operations.<id>.login` (config wins) or `x-rampart-login` in the spec,
 * checked against the same schema, with its defaults filled in. Throws when the spec extension is malformed (so a typo never
 * silently disables the protection).
 */
export function loginOf(input: Pick<PolicyBuildInput, 'api' | 'apiIndex' | 'operationId' | 'operation'>): LoginMarker | undefined {
  const configured = input.api.operations[input.operationId]?.login;
  if (configured) return { config: configured, at: `apis[${input.apiIndex}].operations.${input.operationId}.login` };
  const raw = input.operation?.raw['x-rampart-login'];
  if (raw === undefined || raw === false) return undefined;
  const at = `x-rampart-login on operation ${input.operationId}`;
  if (!validateSpecLogin(raw)) {
    const error = validateSpecLogin.errors?.[0];
    const field = (raw as { account_field?: unknown } | null)?.account_field;
    if (typeof field !== 'string') throw new Error(`${at} needs account_field (a body field name)`);
    throw new ConfigIssueError(`${at}${error?.instancePath ? ` at ${error.instancePath}` : ''}`, error?.message ?? 'invalid');
  }
  return { config: withSchemaDefaults<LoginConfig>(loginSchema, raw), at };
}

/** The login's failure condition as `rampart check` prints it, or undefined off login routes. */
export function loginReport(input: Pick<PolicyBuildInput, 'api' | 'apiIndex' | 'operationId' | 'operation'>): string | undefined {
  const marker = loginOf(input);
  if (!marker) return undefined;
  const failure = marker.config.failure;
  const statuses = failure.status;
  const parts = [`login(${marker.config.account_field}) fails on ${statuses.length > 0 ? `status ${statuses.join(',')}` : 'no status'}`];
  for (const rule of failure.body ?? []) {
    const test = rule.matches !== undefined ? `matches /${rule.matches}/` : rule.equals !== undefined ? `= ${JSON.stringify(rule.equals)}` : 'present';
    parts.push(`body ${rule.pointer} ${test}${rule.status ? ` on ${rule.status.join(',')}` : ''}`);
  }
  if (marker.config.uniform_failures) parts.push(`uniform ≥${marker.config.min_response_ms}ms`);
  return parts.join('; ');
}
