/**
 * Scan identities: who the scanner is when it calls the target. One YAML file per identity, validated with Ajv;
 * secrets may be `${env:NAME}` or `${file:path}` references (a path relative to the identity file).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { parse } from 'yaml';
import { createOpenApiAjv } from '../openapi/ajv.ts';

/** How long a login request may take, in milliseconds. */
export const LOGIN_TIMEOUT_MS = 10_000;

export interface ApiKeyCredential {
  readonly in: 'header' | 'query';
  readonly name: string;
  readonly value: string;
}

export interface LoginCredential {
  /** Absolute URL, or a path on the target. */
  readonly url: string;
  readonly form?: Readonly<Record<string, string>>;
  readonly json?: Readonly<Record<string, unknown>>;
  /** JSON pointer (`/access_token`) or top-level field name of the token in the login response. */
  readonly token: string;
}

/** An identity as declared (references still unresolved until {@link resolveIdentity}). */
export interface IdentityConfig {
  readonly name: string;
  readonly role?: string;
  readonly tenant?: string;
  readonly subject?: string;
  /** The public key the API verifies this identity's tokens with (PEM, JWK or JWKS text), for the key-confusion probe. */
  readonly public_key?: string;
  readonly credential: { readonly bearer?: string; readonly api_key?: ApiKeyCredential; readonly login?: LoginCredential };
  /** The file it came from (for relative `${file:}` references and error messages). */
  readonly file: string;
}

/** An identity with its credential in hand. */
export interface Identity {
  readonly name: string;
  readonly role: string | undefined;
  /** From the file, else the token's `sub` claim (read, not verified: it is our own token), else learnt from a `/me` response. */
  subject: string | undefined;
  /** From the file, else the token's `tenant`/`tid` claim, else learnt from a `/me` response. */
  tenant: string | undefined;
  /** The bearer token, when the credential is one (JWT probes need it). */
  readonly token: string | undefined;
  readonly apiKey: ApiKeyCredential | undefined;
  /** The `public_key` of the file (references resolved), if any. */
  readonly publicKey: string | undefined;
  /** Every secret value of this identity, for masking. */
  readonly secrets: readonly string[];
}

/** Raised for a bad identity file or a failed login: names the file, never a secret. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

const STRING_MAP = { type: 'object', additionalProperties: { type: 'string', maxLength: 4096 }, maxProperties: 32 };
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'credential'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    role: { type: 'string', minLength: 1, maxLength: 64 },
    tenant: { type: 'string', minLength: 1, maxLength: 128 },
    subject: { type: 'string', minLength: 1, maxLength: 256 },
    public_key: { type: 'string', minLength: 1, maxLength: 65536 },
    credential: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: {
        bearer: { type: 'string', minLength: 1, maxLength: 16384 },
        api_key: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'value'],
          properties: { in: { enum: ['header', 'query'] }, name: { type: 'string', pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$' }, value: { type: 'string', minLength: 1, maxLength: 4096 } },
        },
        login: {
          type: 'object',
          additionalProperties: false,
          required: ['url', 'token'],
          oneOf: [{ required: ['form'] }, { required: ['json'] }],
          properties: { url: { type: 'string', minLength: 1, maxLength: 2048 }, form: STRING_MAP, json: { type: 'object', maxProperties: 32 }, token: { type: 'string', minLength: 1, maxLength: 256 } },
        },
      },
    },
  },
} as const;

const validate = createOpenApiAjv().compile(SCHEMA);

/** Reads and validates one identity file. @throws {IdentityError} naming the file and the JSON path of the problem. */
export function loadIdentityFile(file: string): IdentityConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new IdentityError(`${file}: cannot be read as YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (!validate(raw)) {
    const first = validate.errors?.[0];
    const at = first?.instancePath ? first.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
    const extra = first?.params && 'additionalProperty' in first.params ? ` "${String(first.params['additionalProperty'])}"` : '';
    // The login's oneOf: Ajv names the first branch it tried; say what the choice is.
    const message = first?.schemaPath.includes('/oneOf') ? 'needs exactly one of form or json' : (first?.message ?? 'is invalid');
    throw new IdentityError(`${file}: ${at} ${message}${extra}`);
  }
  const config = raw as Omit<IdentityConfig, 'file'> & { credential: { api_key?: Partial<ApiKeyCredential> } };
  const apiKey = config.credential.api_key;
  return {
    ...config,
    credential: apiKey ? { api_key: { in: apiKey.in ?? 'header', name: apiKey.name ?? '', value: apiKey.value ?? '' } } : config.credential,
    file,
  } as IdentityConfig;
}

/** Replaces `${env:NAME}` and `${file:path}` references. @throws {IdentityError} for a missing variable or file. */
export function resolveRefs(value: string, file: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\{(env|file):([^}]+)\}/g, (_, kind: string, ref: string) => {
    if (kind === 'env') {
      const found = env[ref];
      if (found === undefined) throw new IdentityError(`${file}: environment variable ${ref} is not set`);
      return found;
    }
    try {
      return readFileSync(resolve(dirname(file), ref), 'utf8').trim();
    } catch {
      throw new IdentityError(`${file}: cannot read ${ref}`);
    }
  });
}

function resolveDeep(value: unknown, file: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return resolveRefs(value, file, env);
  if (Array.isArray(value)) return value.map((v) => resolveDeep(v, file, env));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveDeep(v, file, env)]));
  return value;
}

/** The value at a JSON pointer (RFC 6901) or, for a plain name, at that top-level property. */
export function valueAtPointer(document: unknown, pointer: string): unknown {
  const segments = pointer.startsWith('/') ? pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')) : [pointer];
  let current = document;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

function claimsOf(token: string): Record<string, unknown> {
  try {
    return decodeJwt(token);
  } catch {
    return {};
  }
}

async function login(config: IdentityConfig, credential: LoginCredential, target: URL): Promise<string> {
  const url = new URL(credential.url, target);
  const body = credential.form ? new URLSearchParams(credential.form as Record<string, string>).toString() : JSON.stringify(credential.json);
  const contentType = credential.form ? 'application/x-www-form-urlencoded' : 'application/json';
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType, accept: 'application/json' }, body, redirect: 'manual', signal: AbortSignal.timeout(LOGIN_TIMEOUT_MS) });
  } catch (error) {
    throw new IdentityError(`${config.file}: login to ${url.origin}${url.pathname} failed (${(error as Error).name})`);
  }
  const text = await response.text();
  if (!response.ok) throw new IdentityError(`${config.file}: login to ${url.origin}${url.pathname} answered ${response.status}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new IdentityError(`${config.file}: login response is not JSON`);
  }
  const token = valueAtPointer(parsed, credential.token);
  if (typeof token !== 'string' || token === '') throw new IdentityError(`${config.file}: login response has no string at ${credential.token}`);
  return token;
}

/** Resolves references and obtains the credential (logging in when the identity says so). */
export async function resolveIdentity(config: IdentityConfig, target: URL, env: NodeJS.ProcessEnv = process.env): Promise<Identity> {
  const credential = resolveDeep(config.credential, config.file, env) as IdentityConfig['credential'];
  let token: string | undefined;
  const secrets: string[] = [];
  if (credential.bearer !== undefined) token = credential.bearer;
  if (credential.login) {
    token = await login(config, credential.login, target);
    const fields = { ...(credential.login.form ?? {}), ...(credential.login.json ?? {}) } as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) if (/pass|secret|key|token|otp/i.test(k) && typeof v === 'string') secrets.push(v);
  }
  if (token !== undefined) secrets.push(token);
  if (credential.api_key) secrets.push(credential.api_key.value);
  const claims = token === undefined ? {} : claimsOf(token);
  const claim = (name: string) => (typeof claims[name] === 'string' ? (claims[name] as string) : undefined);
  return {
    name: config.name,
    role: config.role,
    subject: config.subject ?? claim('sub'),
    tenant: config.tenant ?? claim('tenant') ?? claim('tid'),
    token,
    apiKey: credential.api_key,
    publicKey: config.public_key === undefined ? undefined : resolveRefs(config.public_key, config.file, env),
    secrets,
  };
}

/** Request headers (and a query suffix for query API keys) that carry an identity's credential. */
export function credentialOf(identity: Identity): { headers: Record<string, string>; query: string } {
  if (identity.apiKey) {
    return identity.apiKey.in === 'query'
      ? { headers: {}, query: `${encodeURIComponent(identity.apiKey.name)}=${encodeURIComponent(identity.apiKey.value)}` }
      : { headers: { [identity.apiKey.name.toLowerCase()]: identity.apiKey.value }, query: '' };
  }
  return { headers: identity.token === undefined ? {} : { authorization: `Bearer ${identity.token}` }, query: '' };
}
