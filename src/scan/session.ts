/** One scan in progress: the spec, the client, the identities, what has been learnt about the target's objects. */
import type { LoadedSpec, SpecOperation } from '../openapi/load.ts';
import type { Canary } from './canary.ts';
import { headerOf, type ProbeRequest, type ProbeResponse, type ScanClient } from './client.ts';
import { credentialOf, type Identity } from './identity.ts';
import type { Masker } from './mask.ts';
import type { Evidence } from './types.ts';

export type Profile = 'safe' | 'full';

/** An object the scan learnt about: an id under a key (`orderId`), who it belongs to and who saw or made it. */
export interface KnownObject {
  readonly key: string;
  readonly value: string;
  /** The owner field's value (`ownerId`, `userId`, …) when the object has one. */
  readonly owner: string | undefined;
  /** The tenant field's value (`tenantId`, `tenant`, …) when the object has one. */
  readonly tenant: string | undefined;
  /** The identity that saw it first. */
  readonly seenBy: string;
  /** The identity that created it during the scan. */
  readonly createdBy: string | undefined;
  readonly operationId: string;
  readonly evidence: Evidence;
}

/** A response the scan received with a credential, kept for the property-level checks. */
export interface Recorded {
  readonly op: SpecOperation;
  readonly identity: Identity;
  readonly request: ProbeRequest;
  readonly response: ProbeResponse;
}

export interface ScanSession {
  readonly spec: LoadedSpec;
  readonly client: ScanClient;
  readonly identities: readonly Identity[];
  readonly profile: Profile;
  readonly masker: Masker;
  /** The target URL's path prefix, put in front of every spec path ('' for a root target). */
  readonly basePath: string;
  readonly objects: KnownObject[];
  readonly recorded: Recorded[];
  /** What a probe decided not to send and why (e.g. a spec server on another host): shown in every report. */
  readonly notes: string[];
  /** The SSRF canary, when SSRF probes are planned and the target is on loopback. */
  readonly canary?: Canary;
}

const OWNER_FIELDS = ['ownerId', 'owner_id', 'owner', 'userId', 'user_id', 'createdBy', 'created_by', 'customerId'];
const TENANT_FIELDS = ['tenantId', 'tenant_id', 'tenant', 'orgId', 'organizationId', 'organisationId'];

function stringField(object: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) if (typeof object[name] === 'string') return object[name] as string;
  return undefined;
}

export const ownerOf = (o: Record<string, unknown>): string | undefined => stringField(o, OWNER_FIELDS);
export const tenantOf = (o: Record<string, unknown>): string | undefined => stringField(o, TENANT_FIELDS);

/** Whether an object belongs to `identity`: it created it, or the owner field names its subject. */
export function ownedBy(object: KnownObject, identity: Identity): boolean {
  return object.createdBy === identity.name || (object.owner !== undefined && object.owner === identity.subject);
}

/** Whether `reader` may legitimately see an object of `owner` tenant-wide (same declared tenant). */
export function sameTenant(tenant: string | undefined, reader: Identity): boolean {
  return tenant !== undefined && reader.tenant !== undefined && tenant === reader.tenant;
}

/** Whether an identity holds one of `roles` (by its role label). */
export function hasRole(identity: Identity, roles: readonly string[] | undefined): boolean {
  return roles !== undefined && identity.role !== undefined && roles.includes(identity.role);
}

/** Whether an identity is labelled as an administrator (never used as the "other user" of BOLA probes). */
export const isAdmin = (identity: Identity): boolean => identity.role === 'admin';

/** A request carrying `identity`'s credential (none when undefined); `path` is a spec path with its query. */
export function requestAs(session: ScanSession, identity: Identity | undefined, method: string, path: string, extra: { headers?: Record<string, string>; body?: unknown } = {}): ProbeRequest {
  const credential = identity ? credentialOf(identity) : { headers: {}, query: '' };
  let full = session.basePath + path;
  if (credential.query) full += (full.includes('?') ? '&' : '?') + credential.query;
  const headers: Record<string, string> = { accept: 'application/json', ...credential.headers, ...extra.headers };
  let body: string | undefined;
  if (extra.body !== undefined) {
    body = typeof extra.body === 'string' ? extra.body : JSON.stringify(extra.body);
    headers['content-type'] ??= 'application/json';
  }
  return { method, path: full, headers, ...(body === undefined ? {} : { body }) };
}

/** Masked evidence of one exchange (`origin`: where it was sent, when not the target, see {@link ScanClient.sendTo}). */
export function evidenceOf(session: ScanSession, request: ProbeRequest, response: ProbeResponse, origin?: URL): Evidence {
  const m = session.masker;
  const body = m.body(request.body);
  const responseBody = m.body(response.body);
  const url = origin ? origin.origin + (request.path.startsWith('/') ? request.path : `/${request.path}`) : session.client.urlOf(request.path);
  return {
    request: { method: request.method, url: m.url(url), headers: m.headers(request.headers ?? {}), ...(body === undefined ? {} : { body }) },
    response: { status: response.status, headers: m.headers(response.headers), ...(responseBody === undefined ? {} : { body: responseBody }) },
  };
}

/** The parsed JSON body of a response, or undefined when it is not JSON. */
export function jsonOf(response: ProbeResponse): unknown {
  const type = headerOf(response, 'content-type') ?? '';
  if (!/json/i.test(type) && !/^\s*[[{]/.test(response.body)) return undefined;
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    return undefined;
  }
}

/** The objects in a JSON body: the items of an array (or of a top-level `items`/`data`/`results` array), or the object. */
export function objectsIn(body: unknown): Record<string, unknown>[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(body)) return body.filter(isObject);
  if (!isObject(body)) return [];
  for (const key of ['items', 'data', 'results']) if (Array.isArray(body[key])) return (body[key] as unknown[]).filter(isObject);
  return [body];
}

export const is2xx = (response: ProbeResponse): boolean => response.status >= 200 && response.status < 300;

/** `path` with query parameter `name` set to `value` (replacing any value it had), both URL-encoded. */
export function withQuery(path: string, name: string, value: string): string {
  const q = path.indexOf('?');
  const base = q === -1 ? path : path.slice(0, q);
  const nameOf = (pair: string) => {
    const raw = pair.split('=')[0] ?? '';
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };
  const kept = (q === -1 ? '' : path.slice(q + 1)).split('&').filter((pair) => pair !== '' && nameOf(pair) !== name);
  return `${base}?${[...kept, `${encodeURIComponent(name)}=${encodeURIComponent(value)}`].join('&')}`;
}
