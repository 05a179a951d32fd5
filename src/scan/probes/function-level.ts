/**
 * API5 function level: operations reserved for a role (see `privilegedRoles`) called by identities without it
 * (GET only; other methods only with `--profile full`, and then only on objects the scan created); and `X-HTTP-Method-Override` on paths that declare GET
 * but not POST (a POST carrying `X-HTTP-Method-Override: GET` answered like the GET means overrides are honoured).
 */
import { privilegedRoles, SAFE_METHODS } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, hasRole, is2xx, requestAs } from '../session.ts';

export const functionLevel: ProbeModule = {
  name: 'function-level',
  plan(context) {
    const out: PlannedProbe[] = [];
    for (const op of context.spec.operations) {
      const roles = privilegedRoles(op);
      if (roles === undefined) continue;
      const destructive = !SAFE_METHODS.has(op.method);
      if (destructive && context.profile !== 'full') continue;
      for (const identity of context.identities) {
        if (identity.role !== undefined && roles.includes(identity.role)) continue;
        out.push({ rule: 'api5.admin-operation', operationId: op.operationId, endpoint: endpointOf(op), identity: identity.name, description: `call an operation reserved for ${roles.join('/')} as ${identity.name} (role ${identity.role ?? 'none'})`, destructive, maxRequests: 1 });
      }
    }
    const byPath = new Map<string, string[]>();
    for (const op of context.spec.operations) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op.method]);
    for (const op of context.spec.operations) {
      const methods = byPath.get(op.path) ?? [];
      if (op.method !== 'GET' || methods.includes('POST') || op.raw['x-rampart-websocket'] === true) continue;
      const identity = context.identities.find((i) => entitled(op, i.role));
      if (!identity) continue;
      out.push({ rule: 'api5.method-override', operationId: op.operationId, endpoint: `POST ${op.path}`, identity: identity.name, description: 'POST with X-HTTP-Method-Override: GET on a GET-only path', destructive: false, maxRequests: 2 });
      break; // one path tells whether the server honours overrides
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned) {
      const op = session.spec.operations.find((o) => o.operationId === probe.operationId);
      const identity = session.identities.find((i) => i.name === probe.identity);
      if (!op || !identity) continue;
      if (probe.rule === 'api5.admin-operation') {
        const roles = privilegedRoles(op);
        if (hasRole(identity, roles)) continue;
        const admin = session.identities.find((i) => hasRole(i, roles));
        const path = pathFor(session, op, admin ?? identity, { seedsOnly: !SAFE_METHODS.has(op.method) });
        if (path === undefined) continue;
        const request = requestAs(session, identity, op.method, path);
        const response = await session.client.send(request);
        if (is2xx(response)) report(findingOf('api5.admin-operation', { operation: op, key: identity.name, detail: `${identity.name} (role ${identity.role ?? 'none'}) called ${endpointOf(op)}, reserved for ${roles?.join('/') ?? 'admin'}: ${response.status}.`, evidence: [evidenceOf(session, request, response)] }));
        continue;
      }
      const path = pathFor(session, op, identity);
      if (path === undefined) continue;
      const get = await session.client.send(requestAs(session, identity, 'GET', path));
      if (!is2xx(get)) continue;
      const request = requestAs(session, identity, 'POST', path, { headers: { 'x-http-method-override': 'GET' } });
      const response = await session.client.send(request);
      if (is2xx(response) && response.body === get.body) report(findingOf('api5.method-override', { operation: op, endpoint: `POST ${op.path}`, detail: `POST ${op.path} with X-HTTP-Method-Override: GET was answered as the GET (${response.status}); the path declares no POST.`, evidence: [evidenceOf(session, request, response)] }));
    }
  },
};
