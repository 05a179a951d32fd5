/**
 * A small OIDC-style issuer for authentication tests: discovery, a JWKS endpoint that counts its fetches, key
 * rotation, and a signer that can put anything in the header or payload (attack tokens). Loopback, ephemeral port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters } from 'jose';

export interface IssuerKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface TestIssuer {
  readonly url: string;
  readonly issuer: string;
  /** Number of GET /jwks served. */
  readonly jwksFetches: () => number;
  /** Number of discovery documents served. */
  readonly discoveryFetches: () => number;
  current(): IssuerKey;
  /** New current key; the previous one stays published. Returns the new kid. */
  rotate(): Promise<string>;
  /** Signs a token with the current key. Header fields given win over `alg: ES256, typ: at+jwt, kid`. */
  sign(claims: Record<string, unknown>, options?: { header?: Partial<JWTHeaderParameters>; ttlSeconds?: number; key?: CryptoKey; now?: number }): Promise<string>;
  /** Make the server answer 503 to everything (IdP down). */
  down: boolean;
  close(): Promise<void>;
}

async function newKey(): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
}

/** Starts the test issuer with one ES256 key; `audience` is stamped on tokens by default. */
export async function startTestIssuer(audience = 'items-api'): Promise<TestIssuer> {
  let keys: IssuerKey[] = [await newKey()];
  let jwks = 0;
  let discovery = 0;
  const state = { down: false };
  let url = '';
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (state.down) return send(503, { error: 'down' });
    if (req.url === '/.well-known/openid-configuration') {
      discovery++;
      return send(200, { issuer: url, jwks_uri: `${url}/jwks` });
    }
    if (req.url === '/jwks') {
      jwks++;
      return send(200, { keys: keys.map((k) => k.publicJwk) });
    }
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    issuer: url,
    jwksFetches: () => jwks,
    discoveryFetches: () => discovery,
    current: () => keys[0]!,
    async rotate() {
      const key = await newKey();
      keys = [key, ...keys].slice(0, 2);
      return key.kid;
    },
    async sign(claims, options = {}) {
      const key = keys[0]!;
      const iat = Math.floor((options.now ?? Date.now()) / 1000);
      const payload = { iss: url, aud: audience, sub: 'alice', iat, exp: iat + (options.ttlSeconds ?? 300), jti: randomUUID(), ...claims };
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete (payload as Record<string, unknown>)[k];
      const header = { alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...options.header } as JWTHeaderParameters;
      return new SignJWT(payload).setProtectedHeader(header).sign(options.key ?? key.privateKey);
    },
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
