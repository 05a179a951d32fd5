import type { LoginConfig } from './schema.ts';
import type { PolicyBuildInput } from '../../pipeline/types.ts';

/**
 * The login marker of a route: `apis[].operations.<id>.login` (config wins) or `x-rampart-login` in the spec.
 * Throws when the spec extension is malformed (so a typo never silently disables the protection).
 */
export function loginOf(input: PolicyBuildInput): LoginConfig | undefined {
  const configured = input.api.operations[input.operationId]?.login;
  if (configured) return configured;
  const raw = input.operation?.raw['x-rampart-login'];
  if (raw === undefined || raw === false) return undefined;
  const field = (raw as { account_field?: unknown } | null)?.account_field;
  if (typeof field !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(field)) {
    throw new Error(`x-rampart-login on operation ${input.operationId} needs account_field (a body field name)`);
  }
  return { account_field: field };
}
