/**
 * API10 injection, time-boxed and non-destructive, in the values the contract leaves free (a string without enum,
 * format or pattern: what an API passes on to a database, a shell or a template as it is). An injection point is a
 * query parameter of a GET operation, or a string property of a JSON request body: of a search (a POST that only
 * reads, {@link isSearchOperation}) in both profiles, of a create or update operation only with `--profile full`.
 * - SQL: a quote (error-based: a 5xx or a database error where the baseline had none, while a doubled quote, the
 *   same text escaped, breaks nothing) and, on reads, a pair of boolean payloads (`' OR 1=1--` vs `' AND 1=2--`:
 *   the first changes the answer, the second matches the baseline).
 * - Template: `{{a*b}}`, `${a*b}`, `<%= a*b %>`, `#{a*b}` with random a, b: the product (never sent) in the answer.
 * - Command: `;echo`, `|echo`, `$(echo …)` and backticks of `$((a+b))`: the sum (never sent) in the answer; then,
 *   only when the baseline is fast, `;sleep 2` twice against `;sleep 0` (both slow by 2 s, the control not).
 * No payload writes through the database, stacks queries or runs anything but `echo` and a 2-second `sleep`; a
 * write operation only ever creates the identity's own objects or changes one the identity created (or its own
 * singleton, `/users/me`), and an update is written back to the value read before it.
 * NoSQL: POST search operations get `{"$ne": null}` in a string field against a `{"$eq": …}` control, and GET
 * query parameters are sent as `name[$ne]=` / `name[$gt]=` (what qs-style parsers turn into objects) against
 * `[$eq]` / `[$lt]` controls: more results than for a value that matches nothing, while the control matches
 * nothing, means the value became an operator (an API that drops what is not a string answers both alike).
 */
import { randomInt } from 'node:crypto';
import type { SpecOperation } from '../../openapi/load.ts';
import { BudgetExhausted, type ProbeRequest, type ProbeResponse } from '../client.ts';
import { fillPath, isSearchOperation, pathParameters, propertiesOf, requestSchema, requiredQuery, requiresAuth, sampleObject, type Schema } from '../operations.ts';
import { endpointOf, findingOf, type PlanContext, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, ownValue, pathFor } from '../discover.ts';
import type { Identity } from '../identity.ts';
import { evidenceOf, is2xx, jsonOf, objectsIn, requestAs, withQuery, type ScanSession } from '../session.ts';
import { loginFields } from './login.ts';

/** Injection points (query parameters and body fields) given the SQL, template and command payloads per scan, at most. */
export const MAX_INJECTION_PARAMS = 20;
/** Free-text fields of one request body given those payloads, at most (in the order the schema declares them). */
export const MAX_BODY_FIELDS = 3;
/** Query parameters given NoSQL operators per scan, at most. */
export const MAX_NOSQL_PARAMS = 10;
/** The time-based command probe's sleep, in seconds, and how much slower than the baseline an answer must be. */
export const SLEEP_SECONDS = 2;
const SLOWER_MS = SLEEP_SECONDS * 1000 - 300;
/**
 * Requests per probe: SQL on a read (a baseline, a quote, a doubled quote, the boolean pair) and on a write (no
 * boolean pair: two writes never answer alike), template (a baseline and four syntaxes), command (a baseline, four
 * echoes, three sleeps), NoSQL in a query (a baseline and two operator pairs) and in a body (a baseline, `$ne`
 * and its `$eq` control); an update adds a read of the old
 * value and its write-back.
 */
const SQL_REQUESTS = 5;
const SQL_WRITE_REQUESTS = 3;
const TEMPLATE_REQUESTS = 5;
const COMMAND_REQUESTS = 8;
const NOSQL_QUERY_REQUESTS = 5;
const NOSQL_BODY_REQUESTS = 3;
const RESTORE_REQUESTS = 2;
const BASE = 'rampartscan';
const NO_MATCH = `${BASE}-nomatch`;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const DB_ERROR = /(SQLITE_ERROR|SQLSTATE|syntax error|unterminated quoted string|quoted string not properly terminated|You have an error in your SQL syntax|ORA-\d{5}|PG::|pg_query|mysql_fetch|ODBC|JDBC|sqlite3\.|unrecognized token)/i;

/** Whether a parameter or property takes free text (a string without enum, format or pattern). */
export function freeText(schema: Schema | undefined): boolean {
  return schema !== undefined && schema.type === 'string' && schema.enum === undefined && schema.format === undefined && schema.pattern === undefined && schema.const === undefined;
}

/**
 * The free-text properties of the operation's JSON body that a client writes and the answer may show: not
 * `readOnly`, not `writeOnly` (a password is never probed: it would be changed), at most {@link MAX_BODY_FIELDS}.
 */
export function freeTextFields(op: SpecOperation): string[] {
  return Object.entries(propertiesOf(requestSchema(op)))
    .filter(([, prop]) => freeText(prop) && !prop.readOnly && !prop.writeOnly)
    .map(([name]) => name)
    .slice(0, MAX_BODY_FIELDS);
}

/**
 * How a write operation is probed, or undefined when it is not: a create (a POST to a collection, no path
 * parameter; not a login), or an update (PUT/PATCH) the scan can undo. Actions on an object (`POST /orders/{id}/cancel`)
 * are neither.
 */
function writeKind(op: SpecOperation, ops: readonly SpecOperation[]): 'create' | 'update' | undefined {
  if (!WRITE_METHODS.has(op.method) || isSearchOperation(op) || loginFields(op) || !requestSchema(op)) return undefined;
  if (op.method === 'POST') return pathParameters(op).length === 0 ? 'create' : undefined;
  // An update only where the old value can be read back first (GET on the same path) and written back after.
  return ops.some((o) => o.method === 'GET' && o.path === op.path) ? 'update' : undefined;
}

/**
 * The identity a probe calls `op` as: a non-admin one entitled to it, else any entitled one; undefined for a public
 * operation (no credential), null when no identity may call it (not probed).
 */
function proberOf(op: SpecOperation, context: PlanContext): PlanContext['identities'][number] | undefined | null {
  if (!requiresAuth(op)) return undefined;
  return context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role)) ?? context.identities.find((i) => entitled(op, i.role)) ?? null;
}

/** The SQL, template and command probes of one injection point (`?name=` or ` body.name`). */
function payloadProbes(op: SpecOperation, at: { endpoint: string; identity?: string; destructive: boolean }, label: string, kind: 'read' | 'search' | 'create' | 'update'): PlannedProbe[] {
  const base = { operationId: op.operationId, ...at };
  const extra = kind === 'update' ? RESTORE_REQUESTS : 0;
  const who = at.identity ?? 'the caller';
  const note = { read: '', search: ' (a search: nothing is written)', create: ` (--profile full: each request creates an object of ${who}'s own)`, update: ` (--profile full: changes ${who}'s own object, then writes the old value back)` }[kind];
  const reads = kind === 'read' || kind === 'search';
  return [
    { rule: 'api10.sql-injection', ...base, description: `SQL injection in ${label}: a quote (error-based) against a doubled quote${reads ? ' and a boolean pair' : ''}${note}`, maxRequests: (reads ? SQL_REQUESTS : SQL_WRITE_REQUESTS) + extra },
    { rule: 'api10.template-injection', ...base, description: `template injection in ${label}: {{a*b}}, \${a*b}, <%= a*b %>, #{a*b} (is the product in the answer?)${note}`, maxRequests: TEMPLATE_REQUESTS + extra },
    { rule: 'api10.command-injection', ...base, description: `command injection in ${label}: echo of $((a+b)) after ; | $( and backticks; then ;sleep ${SLEEP_SECONDS} twice against ;sleep 0 when the baseline is fast${note}`, maxRequests: COMMAND_REQUESTS + extra },
  ];
}

export const injection: ProbeModule = {
  name: 'injection',
  plan(context) {
    const out: PlannedProbe[] = [];
    let points = 0;
    const ops = context.spec.operations;
    // Query parameters of GET operations: both profiles.
    for (const op of ops) {
      if (op.method !== 'GET' || pathParameters(op).length > 0) continue;
      const identity = proberOf(op, context);
      if (identity === null) continue;
      for (const param of op.parameters) {
        if (param.in !== 'query' || !freeText(param.schema as Schema | undefined) || points >= MAX_INJECTION_PARAMS) continue;
        points += 1;
        out.push(...payloadProbes(op, { endpoint: `${endpointOf(op)}?${param.name}=`, ...(identity ? { identity: identity.name } : {}), destructive: false }, param.name, 'read'));
      }
    }
    // Request bodies: searches in both profiles, then creates and updates (only kept with --profile full).
    const bodies = ops.map((op) => ({ op, kind: isSearchOperation(op) && pathParameters(op).length === 0 ? ('search' as const) : writeKind(op, ops) }));
    for (const { op, kind } of [...bodies.filter((b) => b.kind === 'search'), ...bodies.filter((b) => b.kind === 'create' || b.kind === 'update')]) {
      if (kind === undefined) continue;
      const identity = proberOf(op, context);
      if (identity === null) continue;
      for (const field of freeTextFields(op)) {
        if (points >= MAX_INJECTION_PARAMS) break;
        points += 1;
        out.push(...payloadProbes(op, { endpoint: `${endpointOf(op)} body.${field}`, ...(identity ? { identity: identity.name } : {}), destructive: kind !== 'search' }, `body.${field}`, kind));
      }
    }
    // NoSQL operators: in query strings (qs-style brackets), then in search bodies.
    let operators = 0;
    for (const op of ops) {
      if (op.method !== 'GET' || pathParameters(op).length > 0) continue;
      const identity = proberOf(op, context);
      if (identity === null) continue;
      for (const param of op.parameters) {
        if (param.in !== 'query' || (param.schema as Schema | undefined)?.type !== 'string' || operators >= MAX_NOSQL_PARAMS) continue;
        operators += 1;
        out.push({ rule: 'api10.nosql-injection', operationId: op.operationId, endpoint: `${endpointOf(op)}?${param.name}[$ne]=`, ...(identity ? { identity: identity.name } : {}), description: `${param.name}[$ne]= and ${param.name}[$gt]= (qs-style operator objects) against ${param.name}[$eq]= / [$lt]= and a value that matches nothing`, destructive: false, maxRequests: NOSQL_QUERY_REQUESTS });
      }
    }
    for (const op of ops) {
      if (!isSearchOperation(op) || pathParameters(op).length > 0) continue;
      // A free-text field first: its no-match baseline is valid input, so a refusal of the operator is a judgement.
      const strings = Object.entries(propertiesOf(requestSchema(op))).filter(([, prop]) => prop.type === 'string' && !prop.readOnly);
      const field = (strings.find(([, prop]) => freeText(prop)) ?? strings[0])?.[0];
      const identity = proberOf(op, context);
      if (field && identity !== null) out.push({ rule: 'api10.nosql-injection', operationId: op.operationId, endpoint: `${endpointOf(op)} body.${field}`, ...(identity ? { identity: identity.name } : {}), description: `{"$ne": null} in ${field} (a search: nothing is written) against {"$eq": …} and a value that matches nothing`, destructive: false, maxRequests: NOSQL_BODY_REQUESTS });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned.filter((p) => p.rule === 'api10.nosql-injection')) {
      if (/ body\./.test(probe.endpoint)) await probeNoSqlBody(session, probe, report);
      else await probeNoSqlQuery(session, probe, report);
    }
    // Reads first, writes last: an object a create stored with a payload must not be in a search's answer.
    const payloads = planned.filter((p) => p.rule !== 'api10.nosql-injection').sort((a, b) => Number(a.destructive) - Number(b.destructive));
    for (const probe of payloads) {
      const point = pointOf(session, probe);
      if (!point) continue;
      const detect = probe.rule === 'api10.sql-injection' ? probeSql : probe.rule === 'api10.template-injection' ? probeTemplate : probe.rule === 'api10.command-injection' ? probeCommand : undefined;
      if (detect) await preserving(session, point, () => detect(session, point, report));
    }
  },
};

type Report = Parameters<ProbeModule['run']>[2];
type Sent = { request: ProbeRequest; response: ProbeResponse };

/** Sends `request` and pairs it with its answer. */
async function exchange(session: ScanSession, request: ProbeRequest): Promise<Sent> {
  return { request, response: await session.client.send(request) };
}

/** How many objects an answer lists (a NoSQL probe's measure of how much matched). */
const count = (sent: Sent): number => objectsIn(jsonOf(sent.response)).length;

/** Where payloads go: a query parameter or a body field of one operation, as one identity. */
interface Point {
  readonly op: SpecOperation;
  /** `q` or `body.item`: how findings name it (and their id key). */
  readonly label: string;
  /** Sends `value` in the point (the rest of the request as the baseline has it). */
  readonly send: (value: string) => Promise<Sent>;
  /** Whether the answer depends on the input only (a read): then an answer equal to the baseline is a judgement. */
  readonly reads: boolean;
  /** An update's current value of the field (undefined when it cannot be read): written back after the probe. */
  readonly original?: () => Promise<string | undefined>;
}

function pointOf(session: ScanSession, probe: PlannedProbe): Point | undefined {
  const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
  const identity = session.identities.find((i) => i.name === probe.identity);
  if (!op) return undefined;
  const field = / body\.(.+)$/.exec(probe.endpoint)?.[1];
  if (field === undefined) {
    const name = probe.endpoint.split('?')[1]?.replace(/=$/, '');
    const path = pathFor(session, op, identity);
    if (!name || path === undefined) return undefined;
    return { op, label: name, reads: true, send: (value) => exchange(session, requestAs(session, identity, 'GET', withQuery(path, name, value))) };
  }
  const schema = requestSchema(op);
  // A write names only the identity's own objects that the scan created (never an example or a found id).
  const path = probe.destructive ? ownSeedPath(session, op, identity) : pathFor(session, op, identity);
  if (!schema || path === undefined) return undefined;
  let base = sampleObject(schema, (name) => (identity ? ownValue(session, identity, name) : undefined));
  const send = (value: string) => exchange(session, requestAs(session, identity, op.method, path, { body: { ...base, [field]: value } }));
  if (op.method === 'POST') return { op, label: `body.${field}`, reads: !probe.destructive, send };
  // An update sends the other fields its schema requires with their current values, so that only the probed
  // field changes (and is written back); when one cannot be read back (a writeOnly password), it is not probed.
  const original = async () => {
    const read = await exchange(session, requestAs(session, identity, 'GET', path));
    const object = is2xx(read.response) ? objectsIn(jsonOf(read.response))[0] : undefined;
    if (typeof object?.[field] !== 'string') return undefined;
    const others = Object.keys(base).filter((key) => key !== field);
    if (others.some((key) => object[key] === undefined)) return undefined;
    base = Object.fromEntries(others.map((key) => [key, object[key]]));
    return object[field];
  };
  return { op, label: `body.${field}`, reads: false, send, original };
}

/** The operation's path with every path parameter an object `identity` created during the scan; undefined when one is missing. */
function ownSeedPath(session: ScanSession, op: SpecOperation, identity: Identity | undefined): string | undefined {
  const path = fillPath(op, (param) => (identity ? session.objects.find((o) => o.key === param.name && o.createdBy === identity.name)?.value : undefined));
  const query = requiredQuery(op, (name) => (identity ? ownValue(session, identity, name) : undefined));
  if (path === undefined || query === undefined) return undefined;
  return query ? `${path}?${query}` : path;
}

/** Runs a probe of an update between a read of the field's value and its write-back; skips it when the value cannot be read. */
async function preserving(session: ScanSession, point: Point, probe: () => Promise<void>): Promise<void> {
  if (!point.original) return probe();
  const before = await point.original();
  if (before === undefined) return;
  try {
    await probe();
  } finally {
    const back = await point.send(before);
    if (!is2xx(back.response)) session.notes.push(`${endpointOf(point.op)} ${point.label}: the value before the injection probe could not be written back (answered ${back.response.status}).`);
  }
}

/** Template syntaxes, each computing `a*b`. */
export const TEMPLATE_SYNTAXES = [(e: string) => `{{${e}}}`, (e: string) => `\${${e}}`, (e: string) => `<%= ${e} %>`, (e: string) => `#{${e}}`];

async function probeTemplate(session: ScanSession, point: Point, report: Report): Promise<void> {
  const a = randomInt(1000, 9999);
  const b = randomInt(1000, 9999);
  const marker = `rs${a * b}x`;
  const baseline = await point.send(BASE);
  if (baseline.response.body.includes(marker)) return;
  for (const syntax of TEMPLATE_SYNTAXES) {
    const payload = `rs${syntax(`${a}*${b}`)}x`;
    const sent = await point.send(payload);
    if (sent.response.body.includes(marker)) {
      report(findingOf('api10.template-injection', { operation: point.op, key: point.label, detail: `${point.label}=${payload} came back as ${marker}: the expression was evaluated server-side.`, evidence: [evidenceOf(session, sent.request, sent.response)] }));
      return;
    }
  }
}

/** Command payloads, each echoing `expr` (a shell arithmetic expansion) after a separator. */
export const COMMAND_SEPARATORS = [(c: string) => `${BASE};${c}`, (c: string) => `${BASE}|${c}`, (c: string) => `${BASE}$(${c})`, (c: string) => `${BASE}\`${c}\``];

/** The request, or undefined when it timed out (a timed-out sleep is no evidence either way). */
async function sendTimed(send: Point['send'], value: string): Promise<Sent | undefined> {
  try {
    return await send(value);
  } catch (error) {
    if (error instanceof BudgetExhausted) throw error;
    if (/Timeout|Abort/.test((error as Error).name)) return undefined;
    throw error;
  }
}

async function probeCommand(session: ScanSession, point: Point, report: Report): Promise<void> {
  const { op, label, send } = point;
  const a = randomInt(10_000, 99_999);
  const b = randomInt(10_000, 99_999);
  const marker = `rs${a + b}x`;
  const baseline = await send(BASE);
  if (baseline.response.body.includes(marker)) return;
  for (const separator of COMMAND_SEPARATORS) {
    const payload = separator(`echo rs$((${a}+${b}))x`);
    const sent = await send(payload);
    if (sent.response.body.includes(marker)) {
      report(findingOf('api10.command-injection', { operation: op, key: label, detail: `${label}=${payload} came back with ${marker}: a shell evaluated the arithmetic.`, evidence: [evidenceOf(session, sent.request, sent.response)] }));
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
  report(findingOf('api10.command-injection', { operation: op, key: label, detail: `${label}=${sleep} took ${Math.round(first.response.elapsedMs)} and ${Math.round(second.response.elapsedMs)} ms, ;sleep 0 ${Math.round(control.response.elapsedMs)} ms and the baseline ${Math.round(baseline.response.elapsedMs)} ms: a shell ran the sleep.`, evidence: [evidenceOf(session, first.request, first.response), evidenceOf(session, control.request, control.response)] }));
}

const broken = (sent: Sent): boolean => sent.response.status >= 500 || DB_ERROR.test(sent.response.body);

async function probeSql(session: ScanSession, point: Point, report: Report): Promise<void> {
  const { op, label, send } = point;
  const baseline = await send(BASE);
  if (baseline.response.status >= 500) return;
  const quote = await send(`${BASE}'`);
  // Parity: one quote breaks the statement, two (the same text, escaped) do not. An API that fails on any quote is
  // not telling a query apart.
  const doubled = !DB_ERROR.test(baseline.response.body) && broken(quote) ? await send(`${BASE}''`) : undefined;
  const parity = doubled !== undefined && !broken(doubled);
  const dbError = DB_ERROR.exec(quote.response.body);
  const evidence = () => [evidenceOf(session, quote.request, quote.response), ...(doubled ? [evidenceOf(session, doubled.request, doubled.response)] : [])];
  if (dbError && parity && doubled) {
    report(findingOf('api10.sql-injection', { operation: op, key: label, detail: `A single quote in ${label} answered ${quote.response.status} with a database error ("${dbError[0]}"); a doubled quote ${doubled.response.status}, without it ${baseline.response.status}.`, evidence: evidence() }));
    return;
  }
  if (point.reads && (await booleanDifferential(session, point, baseline, report))) return;
  // A 5xx on a lone quote with no database text: an injection oracle, with weaker evidence than the two above.
  if (parity && doubled) report(findingOf('api10.sql-injection', { operation: op, key: label, severity: 'high', detail: `A single quote in ${label} answered ${quote.response.status}; a doubled quote ${doubled.response.status}, without it ${baseline.response.status} (the quote breaks something server-side; the boolean pair did not get through).`, evidence: evidence() }));
}

async function booleanDifferential(session: ScanSession, point: Point, baseline: Sent, report: Report): Promise<boolean> {
  if (!is2xx(baseline.response)) return false;
  const truthy = await point.send(`${BASE}' OR 1=1--`);
  const falsy = await point.send(`${BASE}' AND 1=2--`);
  if (is2xx(truthy.response) && is2xx(falsy.response) && truthy.response.body !== falsy.response.body && falsy.response.body === baseline.response.body) {
    report(findingOf('api10.sql-injection', { operation: point.op, key: point.label, detail: `${point.label}=${BASE}' OR 1=1-- changed the answer (${truthy.response.body.length} bytes) while ${BASE}' AND 1=2-- matched the baseline: the value is part of the query.`, evidence: [evidenceOf(session, truthy.request, truthy.response), evidenceOf(session, falsy.request, falsy.response)] }));
    return true;
  }
  return false;
}

async function probeNoSqlBody(session: ScanSession, probe: PlannedProbe, report: Report): Promise<void> {
  const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
  const identity = session.identities.find((i) => i.name === probe.identity);
  const field = / body\.(.+)$/.exec(probe.endpoint)?.[1];
  if (!op || !field) return;
  const send = (value: unknown) => exchange(session, requestAs(session, identity, 'POST', op.path, { body: { [field]: value } }));
  const baseline = await send(NO_MATCH);
  if (!is2xx(baseline.response)) return;
  const widened = await send({ $ne: null });
  const before = count(baseline);
  const after = count(widened);
  if (!is2xx(widened.response) || after <= before) return;
  // The control: an API that drops a value that is not a string (no filter: everything) answers it alike.
  const control = await send({ $eq: NO_MATCH });
  if (!is2xx(control.response) || count(control) !== before) return;
  report(findingOf('api10.nosql-injection', { operation: op, key: field, detail: `{"${field}": {"$ne": null}} returned ${after} result(s), {"${field}": {"$eq": "${NO_MATCH}"}} and a value that matches nothing ${before}.`, evidence: [baseline, widened, control].map((sent) => evidenceOf(session, sent.request, sent.response)) }));
}

/**
 * Operator pairs for a query parameter, with the value each is sent: the first widens the match (`$ne` a value
 * that matches nothing, `$gt` the empty string), the second is its control and matches nothing when the operator
 * is applied (`$eq`, `$lt ''`). A server that ignores the bracketed name answers both alike.
 */
export const NOSQL_QUERY_OPERATORS = [
  { wide: '$ne', narrow: '$eq', value: NO_MATCH },
  { wide: '$gt', narrow: '$lt', value: '' },
] as const;

/** `path` with `name[operator]=value` instead of any `name=` (the brackets sent as they are, as qs-style parsers read them). */
export function withOperator(path: string, name: string, operator: string, value: string): string {
  const plain = withQuery(path, name, value);
  const pair = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  return `${plain.slice(0, -pair.length)}${encodeURIComponent(name)}[${operator}]=${encodeURIComponent(value)}`;
}

async function probeNoSqlQuery(session: ScanSession, probe: PlannedProbe, report: Report): Promise<void> {
  const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
  const identity = session.identities.find((i) => i.name === probe.identity);
  const name = /\?(.+)\[\$ne\]=$/.exec(probe.endpoint)?.[1];
  const path = op ? pathFor(session, op, identity) : undefined;
  if (!op || !name || path === undefined) return;
  const send = (query: string) => exchange(session, requestAs(session, identity, 'GET', query));
  const baseline = await send(withQuery(path, name, NO_MATCH));
  if (!is2xx(baseline.response)) return;
  const none = count(baseline);
  for (const { wide, narrow, value } of NOSQL_QUERY_OPERATORS) {
    const widened = await send(withOperator(path, name, wide, value));
    // A refusal of the bracketed name (400 for an undeclared parameter, or a type check) is the fix: stop there.
    if (!is2xx(widened.response)) return;
    if (count(widened) <= none) continue;
    const control = await send(withOperator(path, name, narrow, value));
    if (!is2xx(control.response)) return;
    if (count(control) !== none) continue;
    report(findingOf('api10.nosql-injection', { operation: op, key: name, detail: `${name}[${wide}]=${value} returned ${count(widened)} result(s), ${name}[${narrow}]=${value} ${count(control)} and ${name}=${NO_MATCH} ${none}: the query string became an operator object.`, evidence: [evidenceOf(session, baseline.request, baseline.response), evidenceOf(session, widened.request, widened.response), evidenceOf(session, control.request, control.response)] }));
    return;
  }
}
