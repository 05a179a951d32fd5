/**
 * The demo's small OIDC-style token issuer: discovery document, JWKS, a token endpoint (password and
 * client_credentials grants) and key rotation. `node demo/idp/server.ts` listens on 127.0.0.1:3001
 * (`DEMO_IDP_PORT` overrides). It exists so the tour and tests use real signed tokens; it is not a product IdP.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { baseUrl, HttpError, runAsScript, isLoopback, readText, sendJson } from '../http.ts';
import { demoClient } from './clients.ts';
import { createGrantHandler, createPasswordCheck } from './grants.ts';
import type { GrantHandler, PasswordCheck } from './grants.ts';
import { ACR_MFA, ACR_PASSWORD, TotpFactor } from './mfa.ts';
import { createKeyRing } from './keys.ts';
import { signAccessToken } from './tokens.ts';
import type { TokenClaims, TokenSettings } from './tokens.ts';

/** Default access-token lifetime: 900 seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 900;
/** Default audience stamped on tokens. */
export const DEFAULT_AUDIENCE = 'demo-api';
const SCOPES = ['orders:read', 'orders:write', 'profile', 'admin'];

/** Options for {@link startIdp}. */
export interface IdpOptions {
  /** TCP port; 0 (the default) picks an ephemeral port. */
  port?: number;
  /** Interface to bind; default `127.0.0.1`. */
  host?: string;
  /** `aud` of issued tokens; default `demo-api`. */
  audience?: string;
  /** Access-token lifetime in seconds; default 900. */
  tokenTtlSeconds?: number;
}

/** A running demo IdP. */
export interface Idp {
  /** Base URL, e.g. `http://127.0.0.1:3001`. */
  url: string;
  /** The `iss` of its tokens (equal to `url`). */
  issuer: string;
  port: number;
  /** Makes a new key current, keeps the previous one in the JWKS, and returns the new `kid`. */
  rotateKey(): Promise<string>;
  /**
   * Signs an access token directly (no credentials checked), for tests. Claims given win over the defaults
   * (`iss`, `aud`, `iat`, `exp`, `jti`); `ttlSeconds` defaults to the IdP's token lifetime and may be negative.
   */
  issueToken(claims: TokenClaims, opts?: { ttlSeconds?: number }): Promise<string>;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

interface IdpContext {
  issuer: string;
  settings: TokenSettings;
  grants: GrantHandler;
  checkPassword: PasswordCheck;
  totp: TotpFactor;
  rotate(): Promise<string>;
}

function discovery(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    token_endpoint: `${issuer}/token`,
    grant_types_supported: ['password', 'client_credentials'],
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    scopes_supported: SCOPES,
    claims_supported: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'scope', 'roles', 'tenant', 'client_id', 'acr', 'amr', 'auth_time'],
    acr_values_supported: [ACR_PASSWORD, ACR_MFA],
  };
}

async function tokenEndpoint(ctx: IdpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return sendJson(res, 400, { error: 'invalid_request', error_description: 'use application/x-www-form-urlencoded' }, noStore);
  }
  const form = new URLSearchParams(await readText(req));
  const result = await ctx.grants(form, req.headers.authorization);
  if (!result.ok) return sendJson(res, result.status, { error: result.error }, { ...noStore, ...result.headers });
  const accessToken = await signAccessToken(ctx.settings, result.claims);
  sendJson(
    res,
    200,
    {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: ctx.settings.ttlSeconds,
      scope: result.scope,
    },
    noStore,
  );
}

/**
 * TOTP enrolment: the user's username and password (form-encoded) get a fresh secret, shown this once as the
 * secret and an `otpauth://` URI. Replacing an enrolled one also needs `otp`, a current code of it. Then
 * `otp=<code>` in a password grant gives an MFA token.
 */
async function enrollEndpoint(ctx: IdpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const noStore = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
  const form = new URLSearchParams(await readText(req));
  const user = await ctx.checkPassword(form.get('username') ?? '', form.get('password') ?? '');
  if (!user) return sendJson(res, 400, { error: 'invalid_grant' }, noStore);
  const enrolment = ctx.totp.enroll(user.id, user.username, form.get('otp') ?? undefined);
  if (!enrolment) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'already enrolled: send otp, a current code of the enrolled authenticator' }, noStore);
  sendJson(res, 200, { secret: enrolment.secret, otpauth_uri: enrolment.otpauthUri }, noStore);
}

async function route(ctx: IdpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { pathname } = new URL(req.url ?? '/', 'http://demo-idp.local');
  const key = `${req.method} ${pathname}`;
  switch (key) {
    case 'GET /.well-known/openid-configuration':
      return sendJson(res, 200, discovery(ctx.issuer), { 'Cache-Control': 'public, max-age=300' });
    case 'GET /jwks':
      return sendJson(res, 200, ctx.settings.keys.jwks(), { 'Cache-Control': 'public, max-age=60' });
    case 'POST /token':
      return tokenEndpoint(ctx, req, res);
    case 'POST /mfa/enroll':
      return enrollEndpoint(ctx, req, res);
    case 'POST /rotate':
      if (!isLoopback(req)) return sendJson(res, 403, { error: 'forbidden' });
      return sendJson(res, 200, { kid: await ctx.rotate() });
    case 'GET /health':
      return sendJson(res, 200, { status: 'ok' });
    default:
      return sendJson(res, 404, { error: 'not_found' });
  }
}

/**
 * Starts the demo IdP with one fresh ES256 key. Seed-user passwords are hashed at start (a few hundred ms).
 * @throws when the port is taken.
 */
export async function startIdp(opts: IdpOptions = {}): Promise<Idp> {
  const host = opts.host ?? '127.0.0.1';
  const ttlSeconds = opts.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const [keys, checkPassword] = await Promise.all([createKeyRing(), createPasswordCheck()]);
  const totp = new TotpFactor();
  const grants = await createGrantHandler(demoClient(), checkPassword, totp);

  const ctx: IdpContext = {
    issuer: '',
    settings: { keys, issuer: '', audience: opts.audience ?? DEFAULT_AUDIENCE, ttlSeconds },
    grants,
    checkPassword,
    totp,
    rotate: () => keys.rotate(),
  };

  const server = createServer((req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpError) return sendJson(res, err.status, err.body);
      console.error('demo IdP error:', err);
      sendJson(res, 500, { error: 'server_error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = baseUrl(host, port);
  ctx.issuer = url;
  ctx.settings.issuer = url;

  let closing: Promise<void> | undefined;
  return {
    url,
    issuer: url,
    port,
    rotateKey: ctx.rotate,
    issueToken: (claims, o) => signAccessToken({ ...ctx.settings, ttlSeconds: o?.ttlSeconds ?? ttlSeconds }, claims),
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function main(): Promise<{ close(): Promise<void> }> {
  const port = Number(process.env['DEMO_IDP_PORT'] ?? 3001);
  const idp = await startIdp({ port, host: '127.0.0.1' });
  console.log(`demo IdP listening on ${idp.url} (discovery ${idp.url}/.well-known/openid-configuration)`);
  return idp;
}

if (import.meta.main) runAsScript(main);
