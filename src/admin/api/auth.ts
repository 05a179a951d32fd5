import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../problem.ts';
import type { AdminTokenConfig } from './schema.ts';

export type AdminRole = 'admin' | 'read_only';

export interface AdminPrincipal {
  readonly name: string;
  readonly role: AdminRole;
}

/** Shortest admin token accepted at start, in characters. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;
const CHALLENGE = { 'www-authenticate': 'Bearer realm="rampart-admin"' };

/**
 * Admin API authentication: `Authorization: Bearer <token>` against the configured tokens. Both sides are hashed
 * with SHA-256 first so the comparison is constant-time over equal lengths (crypto.timingSafeEqual), and every
 * configured token is compared (no early exit that would reveal which one matched).
 * @throws Error naming the config path when a token is shorter than 32 characters or two tokens are equal.
 */
export class AdminAuth {
  readonly #tokens: readonly { readonly digest: Buffer; readonly principal: AdminPrincipal }[];

  constructor(tokens: readonly AdminTokenConfig[]) {
    const seen = new Set<string>();
    this.#tokens = tokens.map((t, i) => {
      if (t.token.length < MIN_ADMIN_TOKEN_LENGTH) throw new Error(`admin.tokens[${i}].token: must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
      const digest = createHash('sha256').update(t.token).digest();
      const hex = digest.toString('hex');
      if (seen.has(hex)) throw new Error(`admin.tokens[${i}].token: the same token is configured twice`);
      seen.add(hex);
      return { digest, principal: Object.freeze({ name: t.name, role: t.role }) };
    });
  }

  /** The caller, or a 401 `unauthorized` GatewayError. */
  authenticate(req: IncomingMessage): AdminPrincipal {
    const header = req.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    if (!match) throw new GatewayError('unauthorized', 'admin API: no bearer token', { headers: CHALLENGE });
    const found = this.principalFor(match[1]!);
    if (!found) throw new GatewayError('unauthorized', 'admin API: unknown token', { headers: CHALLENGE });
    return found;
  }

  /** The holder of `token`, or undefined: every configured token is compared, in constant time. */
  principalFor(token: string): AdminPrincipal | undefined {
    return this.holderOf(createHash('sha256').update(token).digest());
  }

  /**
   * The holder of the token whose SHA-256 is `digest`, or undefined (a dashboard session keeps its token's digest
   * and asks on every request, so a token removed or re-roled by a reload ends its sessions).
   */
  holderOf(digest: Buffer): AdminPrincipal | undefined {
    let found: AdminPrincipal | undefined;
    for (const entry of this.#tokens) if (digest.length === entry.digest.length && timingSafeEqual(digest, entry.digest) && !found) found = entry.principal;
    return found;
  }

  /** As authenticate, and a 403 unless the caller holds `role` (admin satisfies read_only). */
  require(req: IncomingMessage, role: AdminRole): AdminPrincipal {
    return this.authorize(this.authenticate(req), role);
  }

  /** `principal` when it holds `role` (admin satisfies read_only), else a 403 `forbidden` GatewayError. */
  authorize(principal: AdminPrincipal, role: AdminRole): AdminPrincipal {
    if (role === 'admin' && principal.role !== 'admin') throw new GatewayError('forbidden', `admin API: ${principal.name} is read-only`);
    return principal;
  }
}
