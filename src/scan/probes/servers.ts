/**
 * Other entry points of the target's own host:
 * - API8 plain HTTP: for an https:// target, one GET over plain HTTP to port 80 (when the target is on 443) and to
 *   every `http://` server the spec lists on the target's host. A 2xx is a finding; a redirect (to HTTPS) is what
 *   should happen. No credential is ever sent over plain HTTP (except to a loopback address).
 * - API9 the spec's servers: every server in the spec's top-level `servers` other than the target, when it is the
 *   target's host (the same name, both loopback, or a name whose addresses are all the target's: see
 *   {@link ScanClient.sameHost}), gets one GET of a cheap operation. A 2xx is a finding (a second entry point the
 *   scan of the target does not cover). A server on another host is never contacted: the report lists it as not
 *   probed.
 */
import type { OpenAPIV3 } from 'openapi-types';
import { isLoopbackHost } from '../../http/hosts.ts';
import type { SpecOperation } from '../../openapi/load.ts';
import { BudgetExhausted, type ProbeResponse } from '../client.ts';
import { entitled, listOperations, pathFor } from '../discover.ts';
import { requiresAuth } from '../operations.ts';
import { endpointOf, findingOf, type PlanContext, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { evidenceOf, is2xx, requestAs, type ScanSession } from '../session.ts';

/** What the probes read of a spec document. */
type WithServers = { readonly servers?: readonly OpenAPIV3.ServerObject[] };

/** A server of the spec, its variables replaced by their defaults, resolved against the target. */
export interface SpecServer {
  /** As written in the spec. */
  readonly raw: string;
  readonly url: URL;
}

const trimSlash = (path: string) => path.replace(/\/+$/, '');

function substitute(server: OpenAPIV3.ServerObject): string {
  const variables = (server.variables ?? {}) as Record<string, { default?: unknown }>;
  return server.url.replace(/\{([^}]*)\}/g, (_, name: string) => String(variables[name]?.default ?? 'x'));
}

/** The base path of the spec's first server (what the loader put in front of every operation path). */
function firstServerPath(document: WithServers): string {
  const first = document.servers?.[0];
  if (!first) return '';
  try {
    return trimSlash(new URL(substitute(first), 'http://x.invalid/').pathname);
  } catch {
    return '';
  }
}

/** The spec's servers that are not the target itself (relative ones resolved against the target). */
export function otherServers(document: WithServers, target: URL): SpecServer[] {
  const base = firstServerPath(document);
  const targetBase = `${target.origin}${trimSlash(target.pathname)}`;
  const out: SpecServer[] = [];
  for (const server of document.servers ?? []) {
    let url: URL;
    try {
      const raw = substitute(server);
      // A relative server is relative to the target (where the spec's API is served), its path in front of the ops.
      url = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? new URL(raw) : new URL(`${targetBase}${raw.startsWith('/') ? '' : '/'}${raw}`);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    const same = url.origin === target.origin && trimSlash(url.pathname) === trimSlash(`${trimSlash(target.pathname)}${base}`);
    if (!same && !out.some((o) => o.url.href === url.href)) out.push({ raw: server.url, url });
  }
  return out;
}

/** Whether a host name is the target's by name alone (no DNS): the same name, or both loopback. */
const sameByName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase() || (isLoopbackHost(a) && isLoopbackHost(b));

/** The cheap GET the probes send: a public one first, else one a non-admin identity may call. */
function probeOperation(context: Pick<PlanContext, 'spec' | 'identities'>): { op: SpecOperation; identity?: string } | undefined {
  const gets = listOperations(context.spec.operations);
  const open = gets.find((op) => !requiresAuth(op));
  if (open) return { op: open };
  for (const op of gets) {
    const identity = context.identities.find((i) => i.role !== 'admin' && entitled(op, i.role));
    if (identity) return { op, identity: identity.name };
  }
  return undefined;
}

/** Candidates for the plain-HTTP probe of an https:// target: port 80 (a target on 443) and the spec's http:// servers on its host. */
export function plainHttpCandidates(document: WithServers, target: URL): URL[] {
  if (target.protocol !== 'https:') return [];
  const out: URL[] = [];
  if ((target.port || '443') === '443') out.push(new URL(`http://${target.host.replace(/:443$/, '')}${trimSlash(target.pathname)}${firstServerPath(document)}`));
  for (const server of otherServers(document, target)) {
    if (server.url.protocol === 'http:' && sameByName(server.url.hostname, target.hostname) && !out.some((u) => u.href === server.url.href)) out.push(server.url);
  }
  return out;
}

export const servers: ProbeModule = {
  name: 'servers',
  plan(context) {
    if (!context.target) return [];
    const target = context.target;
    const chosen = probeOperation(context);
    const out: PlannedProbe[] = [];
    const plain = plainHttpCandidates(context.spec.document, target);
    const what = chosen ? `GET ${chosen.op.path}` : 'GET /';
    for (const url of plain) out.push({ rule: 'api8.plain-http', endpoint: `${what} on ${url.origin}`, description: `the API over plain HTTP (${url.origin}), no credential: a 2xx instead of a redirect to HTTPS?`, destructive: false, maxRequests: 1 });
    for (const server of otherServers(context.spec.document, target)) {
      if (plain.some((u) => u.href === server.url.href)) continue;
      const byName = sameByName(server.url.hostname, target.hostname);
      out.push({ rule: 'api9.spec-server', endpoint: `${what} on ${server.url.href}`, ...(chosen?.identity ? { identity: chosen.identity } : {}), description: byName ? `a server the spec lists on the target's host (${server.raw}): does it answer the API?` : `a server the spec lists (${server.raw}): probed only if ${server.url.hostname} resolves to the target's addresses, else listed as not probed`, destructive: false, maxRequests: 1 });
    }
    return out;
  },
  async run(session, planned, report) {
    const target = new URL(session.client.urlOf('/'));
    const chosen = probeOperation({ spec: session.spec, identities: session.identities });
    const base = firstServerPath(session.spec.document);
    const plain = plainHttpCandidates(session.spec.document, target);
    const others = otherServers(session.spec.document, target);
    for (const probe of planned) {
      const url = probe.rule === 'api8.plain-http' ? plain.find((u) => probe.endpoint.endsWith(` on ${u.origin}`)) : others.find((s) => probe.endpoint.endsWith(` on ${s.url.href}`))?.url;
      if (!url) continue;
      if (!(await session.client.sameHost(url.hostname))) {
        session.notes.push(`${url.href} (in the spec's servers) is not the target's host: not contacted.`);
        continue;
      }
      // Credentials only where they cannot be read on the way: over TLS, or to this machine.
      const identity = chosen?.identity && (url.protocol === 'https:' || isLoopbackHost(url.hostname)) ? session.identities.find((i) => i.name === chosen.identity) : undefined;
      const opPath = chosen ? pathFor(session, chosen.op, identity) : '/';
      if (opPath === undefined) continue;
      // The operation path without the first server's base, under this server's base.
      const rest = chosen && base && opPath.startsWith(base) ? opPath.slice(base.length) || '/' : opPath;
      const pathOnServer = probe.rule === 'api8.plain-http' ? `${trimSlash(url.pathname)}${chosen ? rest : ''}` || '/' : `${trimSlash(url.pathname)}${rest}`;
      // requestAs puts the target's base path in front and may add an API key to the query: keep only the latter.
      const asTarget = requestAs(session, identity, 'GET', '/');
      const q = asTarget.path.indexOf('?');
      const credentialQuery = q === -1 ? '' : asTarget.path.slice(q + 1);
      const request = { ...asTarget, path: credentialQuery ? `${pathOnServer}${pathOnServer.includes('?') ? '&' : '?'}${credentialQuery}` : pathOnServer };
      const response = await attempt(session, url, request);
      if (!response || !is2xx(response)) continue;
      const evidence = [evidenceOf(session, request, response, url)];
      if (probe.rule === 'api8.plain-http') {
        report(findingOf('api8.plain-http', { endpoint: url.origin, key: url.origin, detail: `${url.origin}${pathOnServer} answered ${response.status} over plain HTTP (no redirect to HTTPS).`, evidence }));
      } else {
        report(findingOf('api9.spec-server', { ...(chosen ? { operation: chosen.op } : {}), endpoint: chosen ? `${endpointOf(chosen.op)} on ${url.origin}` : url.origin, key: url.href, detail: `${url.href}, a server the spec lists besides the target, answered GET ${pathOnServer} with ${response.status}${identity ? ` (as ${identity.name})` : ''}.`, evidence }));
      }
    }
  },
};

/** One request to another origin of the target's host; undefined when nothing answers there (refused, TLS mismatch, timeout). */
async function attempt(session: ScanSession, origin: URL, request: Parameters<ScanSession['client']['sendTo']>[1]): Promise<ProbeResponse | undefined> {
  try {
    return await session.client.sendTo(origin, request);
  } catch (error) {
    if (error instanceof BudgetExhausted) throw error;
    return undefined;
  }
}
