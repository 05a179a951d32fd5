/**
 * API8 security misconfiguration: banners and missing security headers on the responses the scan received, a
 * 404 for an unknown path and a malformed JSON body checked for stack traces and internals, CORS with a foreign
 * origin, TRACE, and encoded dot-segments (`/x/%2e%2e/health`) answered like the route they resolve to.
 */
import { randomBytes } from 'node:crypto';
import type { SpecOperation } from '../../openapi/load.ts';
import { headerOf, type ProbeRequest, type ProbeResponse } from '../client.ts';
import { pathParameters, requestSchema, requiresAuth } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, requestAs, type ScanSession } from '../session.ts';

/** Signs of an error body that says too much: stack frames, runtime versions, route lists, database errors. */
const VERBOSE = [
  /\bat [\w.<>$]+ \((?:file:\/\/|node:|\/)[^)]*:\d+:\d+\)/,
  /\bnode:internal\//,
  /"stack"\s*:/,
  /Traceback \(most recent call last\)/,
  /Node\.js v?\d+\.\d+/,
  /"availableRoutes"/,
  /\b(SQLITE_ERROR|SQLSTATE|ORA-\d{5}|PG::|syntax error at or near)\b/,
  /Unexpected (token|end of JSON input)|JSON at position \d+/,
  /\bat (java|org|com)\.[\w.$]+\(/,
];

/** The first verbose-error sign in `body`, or undefined. */
export function verboseSign(body: string): string | undefined {
  for (const pattern of VERBOSE) {
    const match = pattern.exec(body);
    if (match) return match[0].slice(0, 80);
  }
  return undefined;
}

/** A banner that names software (and usually its version), or undefined. */
export function bannerOf(response: ProbeResponse): string | undefined {
  const powered = headerOf(response, 'x-powered-by');
  if (powered) return `X-Powered-By: ${powered}`;
  const server = headerOf(response, 'server');
  if (server && /[\d/(]/.test(server)) return `Server: ${server}`;
  const aspnet = headerOf(response, 'x-aspnet-version');
  return aspnet ? `X-AspNet-Version: ${aspnet}` : undefined;
}

/** Security headers missing from a response (HSTS only when the target is HTTPS; no-store only when authenticated). */
export function missingSecurityHeaders(response: ProbeResponse, options: { https: boolean; authenticated: boolean }): string[] {
  const missing: string[] = [];
  if ((headerOf(response, 'x-content-type-options') ?? '').toLowerCase() !== 'nosniff') missing.push('X-Content-Type-Options: nosniff');
  if (options.authenticated && !/no-store/i.test(headerOf(response, 'cache-control') ?? '')) missing.push('Cache-Control: no-store');
  const csp = headerOf(response, 'content-security-policy') ?? '';
  if (!/frame-ancestors/i.test(csp) && !headerOf(response, 'x-frame-options')) missing.push('Content-Security-Policy frame-ancestors (or X-Frame-Options)');
  if (options.https && !headerOf(response, 'strict-transport-security')) missing.push('Strict-Transport-Security');
  return missing;
}

const FOREIGN_ORIGIN = 'https://rampart-scan.invalid';

export const misconfig: ProbeModule = {
  name: 'misconfig',
  plan(context) {
    const ops = context.spec.operations;
    const out: PlannedProbe[] = [
      { rule: 'api8.banner', endpoint: '*', description: 'look for Server/X-Powered-By banners on every response', destructive: false, maxRequests: 0 },
      { rule: 'api8.missing-security-headers', endpoint: '*', description: 'check security headers on responses received with a credential, and on a 404', destructive: false, maxRequests: 0 },
      { rule: 'api8.verbose-errors', endpoint: 'GET /<random>', description: 'an unknown path: is the 404 generic?', destructive: false, maxRequests: 1 },
      { rule: 'api8.trace-enabled', endpoint: 'TRACE /', description: 'is TRACE answered?', destructive: false, maxRequests: 1 },
    ];
    const post = ops.find((op) => op.method === 'POST' && pathParameters(op).length === 0 && requestSchema(op) !== undefined);
    if (post) out.push({ rule: 'api8.verbose-errors', operationId: post.operationId, endpoint: endpointOf(post), description: 'a malformed JSON body: is the error generic?', destructive: false, maxRequests: 1 });
    const authed = ops.find((op) => op.method === 'GET' && requiresAuth(op) && pathParameters(op).length === 0 && context.identities.some((i) => entitled(op, i.role)));
    if (authed) {
      const identity = context.identities.find((i) => entitled(authed, i.role));
      out.push({ rule: 'api8.cors-any-origin', operationId: authed.operationId, endpoint: endpointOf(authed), ...(identity ? { identity: identity.name } : {}), description: `Origin: ${FOREIGN_ORIGIN} with a credential: is it allowed with credentials?`, destructive: false, maxRequests: 1 });
    }
    const publicGet = ops.find((op) => op.method === 'GET' && !requiresAuth(op) && pathParameters(op).length === 0 && op.path.split('/').length >= 2);
    const other = ops.find((op) => publicGet && op.path.split('/')[1] !== publicGet.path.split('/')[1] && op.path.split('/')[1]);
    if (publicGet && other) out.push({ rule: 'api8.path-traversal', operationId: publicGet.operationId, endpoint: `GET /${other.path.split('/')[1]}/%2e%2e${publicGet.path}`, description: `encoded dot-segments: answered like ${publicGet.path}?`, destructive: false, maxRequests: 2 });
    return out;
  },
  async run(session, planned, report) {
    const rules = new Set(planned.map((p) => p.rule));
    const https = session.client.urlOf('/').startsWith('https:');
    let notFound: { request: ProbeRequest; response: ProbeResponse } | undefined;
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      if (probe.rule === 'api8.verbose-errors' && !op) {
        const request = requestAs(session, undefined, 'GET', `/rampart-scan-${randomBytes(6).toString('hex')}`);
        const response = await session.client.send(request);
        notFound = { request, response };
        const sign = verboseSign(response.body);
        if (sign) report(findingOf('api8.verbose-errors', { endpoint: 'GET /<unknown path>', key: 'not-found', detail: `A request for an unknown path answered ${response.status} with internals ("${sign}").`, evidence: [evidenceOf(session, request, response)] }));
      } else if (probe.rule === 'api8.verbose-errors' && op) {
        const identity = session.identities.find((i) => entitled(op, i.role));
        // Cut-off JSON: nothing can be created from it; a careful API answers a generic 400.
        const request = requestAs(session, requiresAuth(op) ? identity : undefined, 'POST', op.path, { body: '{"rampart-scan": ' });
        const response = await session.client.send(request);
        const sign = verboseSign(response.body);
        if (sign || response.status >= 500) report(findingOf('api8.verbose-errors', { operation: op, key: 'malformed-body', detail: `A malformed JSON body answered ${response.status}${sign ? ` with internals ("${sign}")` : ' (a server error instead of a 400)'}.`, evidence: [evidenceOf(session, request, response)] }));
      } else if (probe.rule === 'api8.trace-enabled') {
        const request = requestAs(session, undefined, 'TRACE', '/');
        const response = await session.client.send(request);
        if (is2xx(response)) report(findingOf('api8.trace-enabled', { endpoint: 'TRACE /', detail: `TRACE / answered ${response.status}.`, evidence: [evidenceOf(session, request, response)] }));
      } else if (probe.rule === 'api8.cors-any-origin' && op) {
        await cors(session, op, probe.identity, report);
      } else if (probe.rule === 'api8.path-traversal' && op) {
        await traversal(session, op, probe.endpoint.slice(4), report);
      }
    }
    const seen: { request: ProbeRequest; response: ProbeResponse; authenticated: boolean }[] = session.recorded.map((r) => ({ request: r.request, response: r.response, authenticated: true }));
    if (notFound) seen.push({ ...notFound, authenticated: false });
    if (rules.has('api8.banner')) {
      const hit = seen.find((s) => bannerOf(s.response) !== undefined);
      if (hit) report(findingOf('api8.banner', { endpoint: `${hit.request.method} ${hit.request.path.split('?')[0]}`, detail: `Responses name the server software: ${bannerOf(hit.response)}.`, evidence: [evidenceOf(session, hit.request, hit.response)] }));
    }
    if (rules.has('api8.missing-security-headers')) {
      const hit = seen.map((s) => ({ ...s, missing: missingSecurityHeaders(s.response, { https, authenticated: s.authenticated }) })).find((s) => s.missing.length > 0);
      if (hit) report(findingOf('api8.missing-security-headers', { endpoint: `${hit.request.method} ${hit.request.path.split('?')[0]}`, detail: `Missing: ${hit.missing.join('; ')}.`, evidence: [evidenceOf(session, hit.request, hit.response)] }));
    }
  },
};

async function cors(session: ScanSession, op: SpecOperation, identityName: string | undefined, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const identity = session.identities.find((i) => i.name === identityName);
  const path = pathFor(session, op, identity);
  if (path === undefined) return;
  const request = requestAs(session, identity, 'GET', path, { headers: { origin: FOREIGN_ORIGIN } });
  const response = await session.client.send(request);
  const allowed = headerOf(response, 'access-control-allow-origin');
  const credentials = (headerOf(response, 'access-control-allow-credentials') ?? '').toLowerCase() === 'true';
  if ((allowed === FOREIGN_ORIGIN || allowed === '*' || allowed === 'null') && credentials) {
    report(findingOf('api8.cors-any-origin', { operation: op, detail: `Origin ${FOREIGN_ORIGIN} got Access-Control-Allow-Origin: ${allowed} with credentials.`, evidence: [evidenceOf(session, request, response)] }));
  }
}

async function traversal(session: ScanSession, op: SpecOperation, rawPath: string, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const direct = await session.client.send(requestAs(session, undefined, 'GET', op.path));
  if (!is2xx(direct)) return;
  const request = requestAs(session, undefined, 'GET', rawPath);
  const response = await session.client.send(request);
  if (response.status === direct.status && response.body === direct.body) {
    report(findingOf('api8.path-traversal', { operation: op, endpoint: `GET ${rawPath}`, detail: `GET ${rawPath} was answered exactly like GET ${op.path}: encoded dot-segments are resolved, so path-based rules can be bypassed.`, evidence: [evidenceOf(session, request, response)] }));
  }
}
