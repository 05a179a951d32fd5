import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';

/** A local token issuer for the benchmark: an ES256 key, its JWKS and OIDC discovery document on loopback. */
export interface BenchIssuer {
  /** Issuer URL (`iss`), also the base of the discovery document. */
  readonly url: string;
  readonly jwksUrl: string;
  readonly audience: string;
  /** A Bearer token valid for one hour (the JWT policy's default maximum lifetime) (sub bench-user, scopes items:read items:write). */
  readonly token: string;
  /** The verification key as SPKI PEM (for stacks configured with a static key). */
  readonly publicPem: string;
  /** Signs another token with the issuer's key (`claims` merged over the defaults). */
  sign(claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export const BENCH_AUDIENCE = 'bench-api';

/** Starts the issuer on an ephemeral loopback port. */
export async function startIssuer(): Promise<BenchIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  let url = '';
  const server: Server = createServer((req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration'
        ? { issuer: url, jwks_uri: `${url}/jwks.json`, id_token_signing_alg_values_supported: ['ES256'] }
        : req.url === '/jwks.json'
          ? { keys: [jwk] }
          : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
    res.end(body ? JSON.stringify(body) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ scope: 'items:read items:write', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench-1', typ: 'JWT' })
      .setIssuer(url)
      .setAudience(BENCH_AUDIENCE)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  return {
    url,
    jwksUrl: `${url}/jwks.json`,
    audience: BENCH_AUDIENCE,
    token: await sign(),
    publicPem: await exportSPKI(publicKey),
    sign,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
