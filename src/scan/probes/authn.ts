/**
 * API2 broken authentication: each authenticated GET operation that answers an identity 2xx is called again
 * with no credential, a malformed token, the identity's token re-encoded with `alg: none`, its claims signed with
 * a key the scanner generated, its claims with `exp` in the past, and the token in the query instead of the header.
 */
import { base64url, compactVerify, decodeJwt, decodeProtectedHeader, exportSPKI, generateKeyPair, generateSecret, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { SpecOperation } from '../../openapi/load.ts';
import { requiresAuth } from '../operations.ts';
import { endpointOf, findingOf, type PlannedProbe, type ProbeModule } from '../probe.ts';
import { entitled, pathFor } from '../discover.ts';
import { evidenceOf, is2xx, requestAs, withQuery, type ScanSession } from '../session.ts';
import type { Identity } from '../identity.ts';

const VARIANTS = [
  ['api2.no-credential', 'no credential at all'],
  ['api2.malformed-token', 'a bearer value that is not a token'],
  ['api2.alg-none', 'the token re-encoded with alg: none and no signature'],
  ['api2.wrong-key', 'the token\'s claims signed with a key the scanner generated'],
  ['api2.expired-token', 'the token with exp in the past (signature no longer matching)'],
  ['api2.key-confusion', 'the token\'s claims signed HS256 with the API\'s public key as the secret (when the identity file has public_key)'],
  ['api2.token-in-query', 'the token as ?access_token= instead of the Authorization header'],
] as const;

/** Whether a string is a decodable JWT (header and payload). */
function isJwt(token: string | undefined): token is string {
  if (token === undefined) return false;
  try {
    decodeProtectedHeader(token);
    decodeJwt(token);
    return true;
  } catch {
    return false;
  }
}

const encodeJson = (value: unknown): string => base64url.encode(JSON.stringify(value));

/** The token with `alg: none` and an empty signature. */
export function algNoneToken(token: string): string {
  const header = { ...decodeProtectedHeader(token), alg: 'none' };
  return `${encodeJson(header)}.${encodeJson(decodeJwt(token))}.`;
}

/** The token's header and claims, `exp` (and `iat`/`nbf`) moved an hour into the past, the old signature kept. */
export function expiredToken(token: string, nowSeconds: number): string {
  const payload: JWTPayload = { ...decodeJwt(token), exp: nowSeconds - 3600, iat: nowSeconds - 7200 };
  if (payload.nbf !== undefined) payload.nbf = nowSeconds - 7200;
  const [header, , signature] = token.split('.');
  return `${header}.${encodeJson(payload)}.${signature ?? ''}`;
}

/** The token's header (alg and kid kept) and claims, signed with a freshly generated key of the same algorithm. */
export async function wrongKeyToken(token: string): Promise<string> {
  const header = decodeProtectedHeader(token);
  const alg = typeof header.alg === 'string' && header.alg !== 'none' ? header.alg : 'ES256';
  const key = alg.startsWith('HS') ? await generateSecret(alg) : (await generateKeyPair(alg)).privateKey;
  return new SignJWT(decodeJwt(token)).setProtectedHeader({ ...header, alg }).sign(key);
}

/** Common HMAC secrets tried offline against identities' HS* tokens (bounded: no request is sent). */
export const WEAK_SECRETS = ['secret', 'secretkey', 'secret-key', 'secret_key', 'mysecret', 'my-secret', 'supersecret', 'jwt', 'jwtsecret', 'jwt-secret', 'jwt_secret', 'password', 'passw0rd', 'changeme', 'change-me', 'changeit', 'default', 'key', 'test', 'testing', 'dev', 'development', 'admin', 'token', 'hmac', 'hs256', '123456', '12345678', 'qwerty', 'letmein', 'shhhhh', 'keyboard cat', 'your-256-bit-secret', 's3cr3t'];

/** The wordlist entry an HS* token verifies with, or undefined (a signature check only: expiry does not matter). */
export async function guessHmacSecret(token: string): Promise<string | undefined> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
  if (typeof alg !== 'string' || !/^HS(256|384|512)$/.test(alg)) return undefined;
  for (const candidate of WEAK_SECRETS) {
    try {
      await compactVerify(token, new TextEncoder().encode(candidate), { algorithms: [alg] });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** The PEM (SPKI) text of a public key given as PEM, a JWK, or a JWKS (the key with `kid`, else the first). */
export async function publicKeyPem(text: string, kid?: string): Promise<string | undefined> {
  if (text.trimStart().startsWith('-----BEGIN')) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const keys = (Array.isArray((parsed as { keys?: unknown }).keys) ? (parsed as { keys: JWK[] }).keys : [parsed as JWK]).filter((k) => k && typeof k === 'object' && typeof k.kty === 'string');
  const jwk = keys.find((k) => k.kid === kid) ?? keys[0];
  if (!jwk) return undefined;
  const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : jwk.kty === 'OKP' ? 'EdDSA' : 'RS256');
  const { d: _private, ...publicOnly } = jwk;
  return exportSPKI((await importJWK(publicOnly, alg, { extractable: true })) as Parameters<typeof exportSPKI>[0]);
}

/** The token's header (kid kept) and claims signed HS256 with the public key's PEM text as the HMAC secret. */
export async function keyConfusionToken(token: string, pem: string): Promise<string> {
  return new SignJWT(decodeJwt(token)).setProtectedHeader({ ...decodeProtectedHeader(token), alg: 'HS256' }).sign(new TextEncoder().encode(pem));
}

export const authn: ProbeModule = {
  name: 'authn',
  plan(context) {
    const out: PlannedProbe[] = [];
    for (const op of context.spec.operations) {
      if (op.method !== 'GET' || !requiresAuth(op) || op.raw['x-rampart-websocket'] === true) continue;
      const identity = context.identities.find((i) => entitled(op, i.role));
      if (!identity) continue;
      for (const [rule, what] of VARIANTS) {
        out.push({ rule, operationId: op.operationId, endpoint: endpointOf(op), identity: identity.name, description: `${what} (after a 2xx baseline with the credential)`, destructive: false, maxRequests: 2 });
      }
    }
    for (const identity of context.identities) {
      out.push({ rule: 'api2.weak-hmac-secret', endpoint: '(offline)', identity: identity.name, description: `an HS* token checked against ${WEAK_SECRETS.length} common secrets, no request sent`, destructive: false, maxRequests: 0 });
    }
    return out;
  },
  async run(session, planned, report) {
    for (const probe of planned.filter((p) => p.rule === 'api2.weak-hmac-secret')) {
      const identity = session.identities.find((i) => i.name === probe.identity);
      const secret = identity?.token === undefined ? undefined : await guessHmacSecret(identity.token);
      if (identity && secret !== undefined) {
        report(findingOf('api2.weak-hmac-secret', { endpoint: '(token)', key: identity.name, detail: `${identity.name}'s ${String(decodeProtectedHeader(identity.token!).alg)} token verifies with a ${secret.length}-character secret from the scanner's list of ${WEAK_SECRETS.length} common ones (not shown).`, evidence: [] }));
      }
    }
    const byOp = new Map<string, PlannedProbe[]>();
    for (const p of planned) if (p.operationId !== undefined) byOp.set(p.operationId, [...(byOp.get(p.operationId) ?? []), p]);
    for (const [operationId, probes] of byOp) {
      const op = session.spec.operations.find((o) => o.operationId === operationId);
      const identity = session.identities.find((i) => i.name === probes[0]?.identity);
      if (op && identity) await probeOperation(session, op, identity, new Set(probes.map((p) => p.rule)), report);
    }
  },
};

async function probeOperation(session: ScanSession, op: SpecOperation, identity: Identity, rules: Set<string>, report: Parameters<ProbeModule['run']>[2]): Promise<void> {
  const path = pathFor(session, op, identity);
  if (path === undefined) return;
  const baseline = await session.client.send(requestAs(session, identity, 'GET', path));
  if (!is2xx(baseline)) return;
  const jwt = isJwt(identity.token) ? identity.token : undefined;
  // `VARIANTS` starts with no-credential: when even that is answered, the operation authenticates nobody and
  // the token variants would only repeat it.
  for (const [rule, what] of VARIANTS) {
    if (!rules.has(rule) && rule !== 'api2.no-credential') continue;
    let headers: Record<string, string> | undefined;
    let probePath = path;
    if (rule === 'api2.no-credential') headers = {};
    else if (rule === 'api2.malformed-token') headers = { authorization: 'Bearer rampart-scan-not-a-token' };
    else if (!jwt) continue;
    else if (rule === 'api2.alg-none') headers = { authorization: `Bearer ${algNoneToken(jwt)}` };
    else if (rule === 'api2.wrong-key') headers = { authorization: `Bearer ${await wrongKeyToken(jwt)}` };
    else if (rule === 'api2.expired-token') headers = { authorization: `Bearer ${expiredToken(jwt, Math.floor(Date.now() / 1000))}` };
    else if (rule === 'api2.key-confusion') {
      const kid = decodeProtectedHeader(jwt).kid;
      const pem = identity.publicKey === undefined ? undefined : await publicKeyPem(identity.publicKey, kid);
      if (pem === undefined) continue;
      headers = { authorization: `Bearer ${await keyConfusionToken(jwt, pem)}` };
    }
    else {
      headers = {};
      probePath = withQuery(path, 'access_token', jwt);
    }
    const request = { ...requestAs(session, undefined, 'GET', probePath), headers: { accept: 'application/json', ...headers } };
    const response = await session.client.send(request);
    if (!is2xx(response)) continue;
    if (rule === 'api2.no-credential' && !rules.has(rule)) return;
    report(findingOf(rule, { operation: op, detail: `${endpointOf(op)} answered ${response.status} to ${what}, as it did to ${identity.name}'s valid credential.`, evidence: [evidenceOf(session, request, response)] }));
    if (rule === 'api2.no-credential') return;
  }
}
