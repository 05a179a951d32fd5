import { createHash } from 'node:crypto';
import { parse } from '@marcbachmann/cel-js';
import type { RequestContext } from '../../pipeline/context.ts';

/** Extracts the value a limit counts by. Never returns a raw secret: header and CEL values are hashed. */
export type KeyExtractor = (ctx: RequestContext) => string;

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

const ipKey: KeyExtractor = (ctx) => `ip:${ctx.clientIp}`;

/**
 * Compiles a limit's `key` setting into an extractor. `consumer` and `api_key` fall back to the client IP for
 * anonymous requests (so anonymous callers are still limited). CEL expressions are parsed here, once; a CEL error
 * at request time throws (the stage then fails closed).
 */
export function compileKey(key: string, route: { readonly api: string; readonly operationId: string; readonly method: string; readonly template: string }): KeyExtractor {
  if (key === 'ip') return ipKey;
  if (key === 'consumer') return (ctx) => {
    const id = ctx.identity;
    const who = id?.consumer ?? id?.subject;
    return who === undefined ? ipKey(ctx) : `c:${who}`;
  };
  if (key === 'api_key') return (ctx) => (ctx.identity?.keyId === undefined ? ipKey(ctx) : `k:${ctx.identity.keyId}`);
  if (key === 'route') {
    const value = `r:${route.method} ${route.template}`;
    return () => value;
  }
  if (key === 'operation') {
    const value = `o:${route.operationId}`;
    return () => value;
  }
  if (key.startsWith('header:')) {
    const name = key.slice('header:'.length).toLowerCase();
    return (ctx) => {
      const raw = ctx.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : raw;
      return value === undefined || value === '' ? ipKey(ctx) : `h:${digest(value)}`;
    };
  }
  if (key.startsWith('cel:')) {
    const expression = parse(key.slice('cel:'.length));
    return (ctx) => {
      const id = ctx.identity;
      const value = expression({
        request: { ip: ctx.clientIp, method: ctx.method, path: ctx.path, params: ctx.params, headers: ctx.headers },
        identity: id ? { subject: id.subject, consumer: id.consumer ?? '', tenant: id.tenant ?? '', roles: id.roles, scopes: id.scopes, claims: id.claims } : null,
      });
      return `x:${digest(String(value))}`;
    };
  }
  throw new Error(`unknown key "${key}"`);
}
