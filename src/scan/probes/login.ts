/**
 * API2 missing brute-force protection on login operations (`x-rampart-login`, or a POST whose path ends in
 * login/signin and whose body has a password): {@link LOGIN_ATTEMPTS} wrong passwords for one account that does
 * not exist (no real account is locked out). Every attempt answered the same 4xx, without a 429/423/403 or a
 * slowdown, is a finding.
 */
import { randomBytes } from 'node:crypto';
import type { SpecOperation } from '../../openapi/load.ts';
import { propertiesOf, requestSchema, sampleObject } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { evidenceOf, requestAs } from '../session.ts';

/** Wrong-password attempts per login operation. */
export const LOGIN_ATTEMPTS = 8;
/** A last attempt this many times slower than the first, and slower than {@link SLOWDOWN_MIN_MS}, counts as throttled. */
const SLOWDOWN_FACTOR = 4;
/** Progressive delays worth the name: at least this long, in milliseconds (so scheduling noise never counts). */
const SLOWDOWN_MIN_MS = 500;

/** The account and password property names of a login operation's body, or undefined when it is not one. */
export function loginFields(op: SpecOperation): { account: string; password: string } | undefined {
  if (op.method !== 'POST') return undefined;
  const props = propertiesOf(requestSchema(op));
  const password = Object.keys(props).find((name) => /^pass(word)?$/i.test(name) || props[name]?.format === 'password');
  if (!password) return undefined;
  const marked = op.raw['x-rampart-login'] as { account_field?: unknown } | undefined;
  if (!marked && !/\/(login|signin|sign-in|authenticate)$/i.test(op.path)) return undefined;
  const declared = typeof marked?.account_field === 'string' ? marked.account_field : undefined;
  const account = declared ?? Object.keys(props).find((name) => /^(user(name)?|email|login|account)$/i.test(name));
  return account ? { account, password } : undefined;
}

export const login: ProbeModule = {
  name: 'login',
  plan(context) {
    const out: PlannedProbe[] = [];
    for (const op of context.spec.operations) {
      if (loginFields(op)) out.push({ rule: 'api2.login-no-lockout', operationId: op.operationId, endpoint: endpointOf(op), description: `${LOGIN_ATTEMPTS} wrong passwords for an account that does not exist`, destructive: false, maxRequests: LOGIN_ATTEMPTS });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const fields = op ? loginFields(op) : undefined;
      const schema = op ? requestSchema(op) : undefined;
      if (!op || !fields || !schema) continue;
      const account = `rampart-scan-${randomBytes(4).toString('hex')}`;
      const statuses: number[] = [];
      const times: number[] = [];
      let last;
      for (let i = 0; i < LOGIN_ATTEMPTS; i++) {
        const body = { ...sampleObject(schema, () => undefined), [fields.account]: account, [fields.password]: `wrong-${i}-${randomBytes(4).toString('hex')}` };
        const request = requestAs(session, undefined, 'POST', op.path, { body });
        const response = await session.client.send(request);
        statuses.push(response.status);
        times.push(response.elapsedMs);
        last = { request, response };
        if ([403, 423, 429, 503].includes(response.status)) break;
      }
      const first = statuses[0];
      const uniform = first !== undefined && first >= 400 && first < 500 && statuses.length === LOGIN_ATTEMPTS && statuses.every((s) => s === first);
      const slowed = (times.at(-1) ?? 0) > Math.max(SLOWDOWN_FACTOR * (times[0] ?? 0), SLOWDOWN_MIN_MS);
      if (uniform && !slowed && last) {
        report(findingOf('api2.login-no-lockout', { operation: op, detail: `${LOGIN_ATTEMPTS} wrong passwords for one account were all answered ${first}, none refused or slowed down.`, evidence: [evidenceOf(session, last.request, last.response)] }));
      }
    }
  },
};
