import { readFileSync } from 'node:fs';
import { startDemoApi, type DemoApi } from '../../demo/api/server.ts';
import { startIdp, type Idp } from '../../demo/idp/server.ts';
import { startGateway, type TestGateway } from './gateway.ts';

/** Ownership and attribute rules the contract tests put in front of the demo API. */
export const DEMO_AUTHZ = {
  owner_rules: {
    getOrder: 'response.body.ownerId == identity.subject',
    getAccount: 'response.body.tenantId == identity.tenant',
    getUser: 'response.body.tenantId == identity.tenant',
    listAccounts: { filter: 'item.tenantId == identity.tenant' },
    listOrders: { filter: 'item.ownerId == identity.subject' },
    searchOrders: { filter: 'item.ownerId == identity.subject' },
  },
  rules: {
    listAccounts: '!has(request.query.tenantId) || request.query.tenantId == identity.tenant',
  },
};

export interface DemoStack {
  readonly api: DemoApi;
  readonly idp: Idp;
  readonly gateway: TestGateway;
  /** A token for a demo user as the demo IdP would issue it. */
  token(user: 'alice' | 'bob' | 'carol' | 'admin'): Promise<string>;
  close(): Promise<void>;
}

const USERS = {
  alice: { sub: 'u-alice', tenant: 'acme', roles: ['user'], scope: 'orders:read orders:write profile' },
  bob: { sub: 'u-bob', tenant: 'acme', roles: ['user'], scope: 'orders:read orders:write profile' },
  carol: { sub: 'u-carol', tenant: 'globex', roles: ['user'], scope: 'orders:read orders:write profile' },
  admin: { sub: 'u-admin', tenant: 'acme', roles: ['admin'], scope: 'orders:read orders:write profile admin' },
} as const;

/** Starts the naive demo API, the demo IdP and a real gateway with demo/openapi.yaml, `extraApi` API settings and `extraConfig` top-level settings. */
export async function startDemoStack(extraApi: Record<string, unknown> = DEMO_AUTHZ, extraConfig: Record<string, unknown> = {}): Promise<DemoStack> {
  const api = await startDemoApi();
  const idp = await startIdp();
  let gateway: TestGateway;
  try {
    gateway = await startGateway(
      {
        upstreams: { demo: { url: api.url } },
        apis: [
          {
            name: 'demo',
            spec: './openapi.yaml',
            upstream: 'demo',
            auth: { jwt: { issuers: [{ issuer: idp.issuer, jwks_url: `${idp.url}/jwks`, audience: 'demo-api' }] }, api_keys: true },
            ...extraApi,
          },
        ],
        ...extraConfig,
      },
      { files: { 'openapi.yaml': readFileSync(new URL('../../demo/openapi.yaml', import.meta.url), 'utf8') } },
    );
  } catch (error) {
    await api.close();
    await idp.close();
    throw error;
  }
  return {
    api,
    idp,
    gateway,
    token: (user) => idp.issueToken({ ...USERS[user], roles: [...USERS[user].roles] }),
    close: async () => {
      await gateway.close();
      await api.close();
      await idp.close();
    },
  };
}
