/**
 * API9 inventory: well-known undocumented paths (debug, admin consoles, other API versions, spec and env files)
 * requested without a credential; a 2xx on a path the spec does not document is a finding. A target that answers
 * 2xx for a random path (a catch-all) is not judged.
 */
import { randomBytes } from 'node:crypto';
import type { SpecOperation } from '../../openapi/load.ts';
import { findingOf, type ProbeModule } from '../probe.ts';
import { evidenceOf, is2xx, requestAs } from '../session.ts';

const CANDIDATES = ['/admin', '/debug', '/debug/vars', '/actuator', '/actuator/env', '/.env', '/config', '/server-status', '/console', '/metrics', '/graphql', '/swagger.json', '/api-docs', '/internal', '/test', '/phpinfo.php'];

/** Whether a concrete path matches one of the spec's path templates. */
export function documented(ops: readonly SpecOperation[], path: string): boolean {
  return ops.some((op) => new RegExp(`^${op.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
}

/** Paths of other API versions: `/v1/orders` → `/v0/orders`, `/v2/orders`. */
export function otherVersions(ops: readonly SpecOperation[]): string[] {
  const out = new Set<string>();
  for (const op of ops) {
    if (op.method !== 'GET' || op.path.includes('{')) continue;
    const match = /^\/v(\d+)(\/.*)$/.exec(op.path);
    if (!match) continue;
    const n = Number(match[1]);
    for (const v of [n - 1, n + 1]) if (v >= 0) out.add(`/v${v}${match[2]}`);
    if (out.size >= 4) break;
  }
  return [...out];
}

export const inventory: ProbeModule = {
  name: 'inventory',
  plan(context) {
    const paths = [...CANDIDATES, ...otherVersions(context.spec.operations)].filter((p) => !documented(context.spec.operations, p));
    return paths.map((path) => ({ rule: 'api9.undocumented-path', endpoint: `GET ${path}`, description: 'undocumented path, no credential: does it answer 2xx?', destructive: false, maxRequests: 1 }));
  },
  async run(session, planned, report) {
    if (planned.length === 0) return;
    const control = await session.client.send(requestAs(session, undefined, 'GET', `/rampart-scan-${randomBytes(6).toString('hex')}`));
    if (is2xx(control)) return; // a catch-all answers anything: nothing to learn
    for (const probe of planned) {
      const path = probe.endpoint.slice(4);
      const request = requestAs(session, undefined, 'GET', path);
      const response = await session.client.send(request);
      if (is2xx(response)) report(findingOf('api9.undocumented-path', { endpoint: probe.endpoint, key: path, detail: `${path} is not in the spec and answered ${response.status} without a credential.`, evidence: [evidenceOf(session, request, response)] }));
    }
  },
};
