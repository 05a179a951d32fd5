/**
 * The token endpoint's grant logic (RFC 6749 §4.3 password, §4.4 client_credentials), independent of HTTP.
 */
import { timingSafeEqual } from 'node:crypto';
import { hashPassword, verifyPassword } from '../password.ts';
import { DEMO_USERS, findDemoUser, type DemoUser } from '../users.ts';
import type { DemoClient } from './clients.ts';
import { ACR_MFA, ACR_PASSWORD, type TotpFactor } from './mfa.ts';
import type { TokenClaims } from './tokens.ts';

/** The outcome of a token request: claims to sign, or an OAuth error with its HTTP status. */
export type GrantResult =
  { ok: true; claims: TokenClaims; scope: string } | { ok: false; status: number; error: string; headers?: Record<string, string> };

/** Checks a grant; built once per IdP by {@link createGrantHandler}. */
export type GrantHandler = (form: URLSearchParams, authorization: string | undefined) => Promise<GrantResult>;

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Narrows the granted scopes to the requested ones; `undefined` when something not granted was asked for. */
function narrowScope(granted: string, requested: string | null): string | undefined {
  if (requested === null || requested.trim() === '') return granted;
  const allowed = new Set(granted.split(' '));
  const asked = [...new Set(requested.trim().split(/\s+/))];
  return asked.every((s) => allowed.has(s)) ? asked.join(' ') : undefined;
}

function basicCredentials(authorization: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return {
    id: decodeURIComponent(decoded.slice(0, colon)),
    secret: decodeURIComponent(decoded.slice(colon + 1)),
  };
}

/** Checks a username and password; the user when both are right. */
export type PasswordCheck = (username: string, password: string) => Promise<DemoUser | undefined>;

/**
 * Hashes every seed user's password with scrypt once (plus a dummy hash so unknown usernames cost the same time
 * as wrong passwords); logins are then checked with scrypt + timingSafeEqual.
 */
export async function createPasswordCheck(): Promise<PasswordCheck> {
  const hashes = new Map<string, string>();
  for (const u of DEMO_USERS) hashes.set(u.username, await hashPassword(u.password));
  const dummyHash = await hashPassword('not-a-demo-password');
  return async (username, password) => {
    const user = findDemoUser(username);
    const valid = await verifyPassword(password, hashes.get(username) ?? dummyHash);
    return user && valid ? user : undefined;
  };
}

/**
 * Builds the grant handler. A password grant with an `otp` field also checks the user's TOTP code: such tokens
 * carry `amr: ["pwd", "otp"]` and `acr` {@link ACR_MFA}; password-only ones `amr: ["pwd"]` and {@link ACR_PASSWORD}.
 * Both carry `auth_time`. A wrong or replayed code fails the whole grant.
 */
export async function createGrantHandler(client: DemoClient, checkPassword: PasswordCheck, totp: TotpFactor): Promise<GrantHandler> {
  return async (form, authorization) => {
    const grantType = form.get('grant_type');

    if (grantType === 'password') {
      const clientId = form.get('client_id') ?? client.clientId;
      if (clientId !== client.clientId) return { ok: false, status: 400, error: 'invalid_client' };
      const user = await checkPassword(form.get('username') ?? '', form.get('password') ?? '');
      if (!user) return { ok: false, status: 400, error: 'invalid_grant' };
      const otp = form.get('otp');
      if (otp !== null && !totp.check(user.id, otp)) return { ok: false, status: 400, error: 'invalid_grant' };
      const scope = narrowScope(user.scope, form.get('scope'));
      if (scope === undefined) return { ok: false, status: 400, error: 'invalid_scope' };
      const mfa = otp !== null;
      return {
        ok: true,
        scope,
        claims: {
          sub: user.id,
          scope,
          roles: [...user.roles],
          tenant: user.tenantId,
          client_id: clientId,
          amr: mfa ? ['pwd', 'otp'] : ['pwd'],
          acr: mfa ? ACR_MFA : ACR_PASSWORD,
          auth_time: Math.floor(Date.now() / 1000),
        },
      };
    }

    if (grantType === 'client_credentials') {
      const basic = basicCredentials(authorization);
      const id = basic?.id ?? form.get('client_id') ?? '';
      const secret = basic?.secret ?? form.get('client_secret') ?? '';
      const valid = constantTimeEqual(id, client.clientId) && constantTimeEqual(secret, client.secret);
      if (!valid) {
        // RFC 6749 §5.2: 401 with a challenge when the client tried HTTP Basic, else 400.
        return basic
          ? { ok: false, status: 401, error: 'invalid_client', headers: { 'WWW-Authenticate': 'Basic realm="demo-idp"' } }
          : { ok: false, status: 400, error: 'invalid_client' };
      }
      const scope = narrowScope(client.scope, form.get('scope'));
      if (scope === undefined) return { ok: false, status: 400, error: 'invalid_scope' };
      return {
        ok: true,
        scope,
        claims: { sub: client.clientId, scope, roles: [...client.roles], tenant: client.tenant, client_id: client.clientId },
      };
    }

    return { ok: false, status: 400, error: grantType ? 'unsupported_grant_type' : 'invalid_request' };
  };
}
