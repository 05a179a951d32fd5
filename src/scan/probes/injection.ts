/**
 * API10 injection (SQL), time-boxed and non-destructive: each free-text string query parameter of a GET
 * operation gets a quote (error-based: a 5xx or a database error where the baseline had none) and a pair of
 * boolean payloads (`' OR 1=1--` vs `' AND 1=2--`: the first changes the answer, the second matches the baseline).
 * No payload writes, sleeps or stacks queries. NoSQL: POST search operations (by name) get `{"$ne": null}` in a
 * string field; more results than for a value that matches nothing means the value became an operator.
 */
import type { SpecOperation } from '../../openapi/load.ts';
import type { ProbeRequest, ProbeResponse } from '../client.ts';
import { isSearchOperation, pathParameters, propertiesOf, requestSchema, requiresAuth, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, jsonOf, objectsIn, requestAs, withQuery, type ScanSession } from '../session.ts';

/** Parameters probed per scan, at most. */
export const MAX_INJECTION_PARAMS = 20;
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
    for (const op of context.spec.operations) {
      if (op.method !== 'GET' || pathParameters(op).length > 0) continue;
      const identity = requiresAuth(op) ? context.identities.find((i) => entitled(op, i.role)) : undefined;
      if (requiresAuth(op) && !identity) continue;
      for (const param of op.parameters) {
        if (param.in !== 'query' || !freeText(param.schema as Schema | undefined) || out.length >= MAX_INJECTION_PARAMS) continue;
        out.push({ rule: 'api10.sql-injection', operationId: op.operationId, endpoint: `${endpointOf(op)}?${param.name}=`, ...(identity ? { identity: identity.name } : {}), description: `SQL injection in ${param.name}: a quote (error-based) and a boolean pair`, destructive: false, maxRequests: 4 });
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
    for (const probe of planned.filter((p) => p.rule === 'api10.sql-injection')) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      const name = probe.endpoint.split('?')[1]?.replace(/=$/, '');
      if (op && name) await probeParam(session, op, identity, name, report);
    }
  },
};

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
