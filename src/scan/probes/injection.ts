/**
 * API10 injection, time-boxed and non-destructive, in the values the contract leaves free (a string query
 * parameter of a GET operation without enum, format or pattern: what an API passes on to a database, a shell or a
 * template as it is).
 * - SQL: a quote (error-based: a 5xx or a database error where the baseline had none) and a pair of boolean
 *   payloads (`' OR 1=1--` vs `' AND 1=2--`: the first changes the answer, the second matches the baseline).
 * - Template: `{{a*b}}`, `${a*b}`, `<%= a*b %>`, `#{a*b}` with random a, b: the product (never sent) in the answer.
 * - Command: `;echo`, `|echo`, `$(echo …)` and backticks of `$((a+b))`: the sum (never sent) in the answer; then,
 *   only when the baseline is fast, `;sleep 2` twice against `;sleep 0` (both slow by 2 s, the control not).
 * No payload writes, stacks queries or runs anything but `echo` and a 2-second `sleep`. NoSQL: POST search
 * operations (by name) get `{"$ne": null}` in a string field; more results than for a value that matches nothing
 * means the value became an operator.
 */
import { randomInt } from 'node:crypto';
import type { SpecOperation } from '../../openapi/load.ts';
import { BudgetExhausted, type ProbeRequest, type ProbeResponse } from '../client.ts';
import { isSearchOperation, pathParameters, propertiesOf, requestSchema, requiresAuth, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, jsonOf, objectsIn, requestAs, withQuery, type ScanSession } from '../session.ts';

/** Parameters probed per scan, at most. */
export const MAX_INJECTION_PARAMS = 20;
/** The time-based command probe's sleep, in seconds, and how much slower than the baseline an answer must be. */
export const SLEEP_SECONDS = 2;
const SLOWER_MS = SLEEP_SECONDS * 1000 - 300;
/** Requests of the template probe (a baseline and four syntaxes) and of the command probe (a baseline, four echoes, three sleeps). */
const TEMPLATE_REQUESTS = 5;
const COMMAND_REQUESTS = 8;
const BASE = 'rampartscan';
const DB_ERROR = /(SQLITE_ERROR|SQLSTATE|syntax error|unterminated quoted string|quoted string not properly terminated|You have an error in your SQL syntax|ORA-\d{5}|PG::|pg_query|mysql_fetch|ODBC|JDBC|sqlite3\.|unrecognized token)/i;

/** Whether a query parameter takes free text (a string without enum, format or pattern). */
export function freeText(schema: Schema | undefined): boolean {
  return schema !== undefined && schema.type === 'string' && schema.enum === undefined && schema.format === undefined && schema.pattern === undefined;
}

export const injection: ProbeModule = {
  name: 'injection',
  plan(context) {
    const out: PlannedProbe[] = [];
    let params = 0;
    for (const op of context.spec.operations) {
      if (op.method !== 'GET' || pathParameters(op).length > 0) continue;
      const identity = requiresAuth(op) ? context.identities.find((i) => entitled(op, i.role)) : undefined;
      if (requiresAuth(op) && !identity) continue;
      for (const param of op.parameters) {
        if (param.in !== 'query' || !freeText(param.schema as Schema | undefined) || params >= MAX_INJECTION_PARAMS) continue;
        params += 1;
        const at = { operationId: op.operationId, endpoint: `${endpointOf(op)}?${param.name}=`, ...(identity ? { identity: identity.name } : {}), destructive: false };
        out.push({ rule: 'api10.sql-injection', ...at, description: `SQL injection in ${param.name}: a quote (error-based) and a boolean pair`, maxRequests: 4 });
        out.push({ rule: 'api10.template-injection', ...at, description: `template injection in ${param.name}: {{a*b}}, \${a*b}, <%= a*b %>, #{a*b} (is the product in the answer?)`, maxRequests: TEMPLATE_REQUESTS });
        out.push({ rule: 'api10.command-injection', ...at, description: `command injection in ${param.name}: echo of $((a+b)) after ; | $( and backticks; then ;sleep ${SLEEP_SECONDS} twice against ;sleep 0 when the baseline is fast`, maxRequests: COMMAND_REQUESTS });
      }
    }
    for (const op of context.spec.operations) {
      if (!isSearchOperation(op) || pathParameters(op).length > 0) continue;
      // A free-text field first: its no-match baseline is valid input, so a refusal of the operator is a judgement.
      const strings = Object.entries(propertiesOf(requestSchema(op))).filter(([, prop]) => prop.type === 'string' && !prop.readOnly);
      const field = (strings.find(([, prop]) => freeText(prop)) ?? strings[0])?.[0];
      const identity = requiresAuth(op) ? context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role)) : undefined;
      if (field && (identity || !requiresAuth(op))) out.push({ rule: 'api10.nosql-injection', operationId: op.operationId, endpoint: `${endpointOf(op)} body.${field}`, ...(identity ? { identity: identity.name } : {}), description: `{"$ne": null} in ${field} (a search: nothing is written) against a value that matches nothing`, destructive: false, maxRequests: 2 });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned.filter((p) => p.rule === 'api10.nosql-injection')) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      const field = / body\.(.+)$/.exec(probe.endpoint)?.[1];
      if (!op || !field) continue;
      const baselineRequest = requestAs(session, identity, 'POST', op.path, { body: { [field]: `${BASE}-nomatch` } });
      const baseline = await session.client.send(baselineRequest);
      if (!is2xx(baseline)) continue;
      const request = requestAs(session, identity, 'POST', op.path, { body: { [field]: { $ne: null } } });
      const response = await session.client.send(request);
      const before = objectsIn(jsonOf(baseline)).length;
      const after = objectsIn(jsonOf(response)).length;
      if (is2xx(response) && after > before) {
        report(findingOf('api10.nosql-injection', { operation: op, key: field, detail: `{"${field}": {"$ne": null}} returned ${after} result(s), a value that matches nothing ${before}.`, evidence: [evidenceOf(session, baselineRequest, baseline), evidenceOf(session, request, response)] }));
      }
    }
    for (const probe of planned.filter((p) => p.rule !== 'api10.nosql-injection')) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      const name = probe.endpoint.split('?')[1]?.replace(/=$/, '');
      if (!op || !name) continue;
      if (probe.rule === 'api10.sql-injection') await probeParam(session, op, identity, name, report);
      else if (probe.rule === 'api10.template-injection') await probeTemplate(session, op, identity, name, report);
      else if (probe.rule === 'api10.command-injection') await probeCommand(session, op, identity, name, report);
    }
  },
};

type Report = Parameters<ProbeModule['run']>[2];

/** A sender of `name=value` on the operation as `identity`, or undefined when its path cannot be filled. */
function senderFor(session: ScanSession, op: SpecOperation, identity: Parameters<typeof requestAs>[1], name: string): ((value: string) => Promise<Sent>) | undefined {
  const path = pathFor(session, op, identity);
  if (path === undefined) return undefined;
  return async (value: string) => {
    const request: ProbeRequest = requestAs(session, identity, 'GET', withQuery(path, name, value));
    return { request, response: await session.client.send(request) };
  };
}

/** Template syntaxes, each computing `a*b`. */
export const TEMPLATE_SYNTAXES = [(e: string) => `{{${e}}}`, (e: string) => `\${${e}}`, (e: string) => `<%= ${e} %>`, (e: string) => `#{${e}}`];

async function probeTemplate(session: ScanSession, op: SpecOperation, identity: Parameters<typeof requestAs>[1], name: string, report: Report): Promise<void> {
  const send = senderFor(session, op, identity, name);
  if (!send) return;
  const a = randomInt(1000, 9999);
  const b = randomInt(1000, 9999);
  const marker = `rs${a * b}x`;
  const baseline = await send(BASE);
  if (baseline.response.body.includes(marker)) return;
  for (const syntax of TEMPLATE_SYNTAXES) {
    const payload = `rs${syntax(`${a}*${b}`)}x`;
    const sent = await send(payload);
    if (sent.response.body.includes(marker)) {
      report(findingOf('api10.template-injection', { operation: op, key: name, detail: `${name}=${payload} came back as ${marker}: the expression was evaluated server-side.`, evidence: [evidenceOf(session, sent.request, sent.response)] }));
      return;
    }
  }
}

/** Command payloads, each echoing `expr` (a shell arithmetic expansion) after a separator. */
export const COMMAND_SEPARATORS = [(c: string) => `${BASE};${c}`, (c: string) => `${BASE}|${c}`, (c: string) => `${BASE}$(${c})`, (c: string) => `${BASE}\`${c}\``];

/** The request, or undefined when it timed out (a timed-out sleep is no evidence either way). */
async function sendTimed(send: (value: string) => Promise<Sent>, value: string): Promise<Sent | undefined> {
  try {
    return await send(value);
  } catch (error) {
    if (error instanceof BudgetExhausted) throw error;
    if (/Timeout|Abort/.test((error as Error).name)) return undefined;
    throw error;
  }
}

async function probeCommand(session: ScanSession, op: SpecOperation, identity: Parameters<typeof requestAs>[1], name: string, report: Report): Promise<void> {
  const send = senderFor(session, op, identity, name);
  if (!send) return;
  const a = randomInt(10_000, 99_999);
  const b = randomInt(10_000, 99_999);
  const marker = `rs${a + b}x`;
  const baseline = await send(BASE);
  if (baseline.response.body.includes(marker)) return;
  for (const separator of COMMAND_SEPARATORS) {
    const payload = separator(`echo rs$((${a}+${b}))x`);
    const sent = await send(payload);
    if (sent.response.body.includes(marker)) {
      report(findingOf('api10.command-injection', { operation: op, key: name, detail: `${name}=${payload} came back with ${marker}: a shell evaluated the arithmetic.`, evidence: [evidenceOf(session, sent.request, sent.response)] }));
      return;
    }
  }
  // Time-based, strictly: a fast baseline, two slow sleeps and a fast control (sleep 0) between them.
  if (baseline.response.status >= 500 || baseline.response.elapsedMs > 1000) return;
  const slow = (s: Sent | undefined) => s !== undefined && s.response.elapsedMs >= SLOWER_MS + baseline.response.elapsedMs;
  const sleep = `${BASE};sleep ${SLEEP_SECONDS}`;
  const first = await sendTimed(send, sleep);
  if (!slow(first)) return;
  const control = await sendTimed(send, `${BASE};sleep 0`);
  if (!control || control.response.elapsedMs > baseline.response.elapsedMs + 1000) return;
  const second = await sendTimed(send, sleep);
  if (!slow(second) || !first || !second) return;
  report(findingOf('api10.command-injection', { operation: op, key: name, detail: `${name}=${sleep} took ${Math.round(first.response.elapsedMs)} and ${Math.round(second.response.elapsedMs)} ms, ;sleep 0 ${Math.round(control.response.elapsedMs)} ms and the baseline ${Math.round(baseline.response.elapsedMs)} ms: a shell ran the sleep.`, evidence: [evidenceOf(session, first.request, first.response), evidenceOf(session, control.request, control.response)] }));
}

async function probeParam(session: ScanSession, op: SpecOperation, identity: Parameters<typeof requestAs>[1], name: string, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const path = pathFor(session, op, identity);
  if (path === undefined) return;
  const send = async (value: string) => {
    const request: ProbeRequest = requestAs(session, identity, 'GET', withQuery(path, name, value));
    return { request, response: await session.client.send(request) };
  };
  const baseline = await send(BASE);
  if (baseline.response.status >= 500) return;
  const quote = await send(`${BASE}'`);
  const dbError = DB_ERROR.exec(quote.response.body);
  const broke = (quote.response.status >= 500 || dbError !== null) && !DB_ERROR.test(baseline.response.body);
  if (dbError && broke) {
    report(findingOf('api10.sql-injection', { operation: op, key: name, detail: `A single quote in ${name} answered ${quote.response.status} with a database error ("${dbError[0]}"); without it ${baseline.response.status}.`, evidence: [evidenceOf(session, quote.request, quote.response)] }));
    return;
  }
  if (await booleanDifferential(session, op, name, baseline, send, report)) return;
  // A 5xx on a lone quote with no database text: an injection oracle, with weaker evidence than the two above.
  if (broke) report(findingOf('api10.sql-injection', { operation: op, key: name, severity: 'high', detail: `A single quote in ${name} answered ${quote.response.status}; without it ${baseline.response.status} (the quote breaks something server-side; the boolean pair did not get through).`, evidence: [evidenceOf(session, quote.request, quote.response)] }));
}

type Sent = { request: ProbeRequest; response: ProbeResponse };

async function booleanDifferential(session: ScanSession, op: SpecOperation, name: string, baseline: Sent, send: (value: string) => Promise<Sent>, report: Parameters<ProbeModule['run']>[2]): Promise<boolean> {
  if (!is2xx(baseline.response)) return false;
  const truthy = await send(`${BASE}' OR 1=1--`);
  const falsy = await send(`${BASE}' AND 1=2--`);
  if (is2xx(truthy.response) && is2xx(falsy.response) && truthy.response.body !== falsy.response.body && falsy.response.body === baseline.response.body) {
    report(findingOf('api10.sql-injection', { operation: op, key: name, detail: `${name}=${BASE}' OR 1=1-- changed the answer (${truthy.response.body.length} bytes) while ${BASE}' AND 1=2-- matched the baseline: the value is part of the query.`, evidence: [evidenceOf(session, truthy.request, truthy.response), evidenceOf(session, falsy.request, falsy.response)] }));
    return true;
  }
  return false;
}
