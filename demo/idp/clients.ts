/**
 * The demo IdP's one OAuth client. Its secret comes from `DEMO_CLIENT_SECRET` (default `demo-cli-secret`).
 */

/** A registered demo client. */
export interface DemoClient {
  readonly clientId: string;
  readonly secret: string;
  /** Space-separated scopes a client_credentials token gets. */
  readonly scope: string;
  /** Tenant stamped on its client_credentials tokens. */
  readonly tenant: string;
  readonly roles: readonly string[];
}

/** Returns the demo client, reading its secret from the environment at call time. */
export function demoClient(env: NodeJS.ProcessEnv = process.env): DemoClient {
  return {
    clientId: 'demo-cli',
    secret: env['DEMO_CLIENT_SECRET'] || 'demo-cli-secret',
    scope: 'orders:read orders:write',
    tenant: 'acme',
    roles: ['service'],
  };
}
