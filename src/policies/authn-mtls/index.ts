import { ConfigIssueError } from '../../config/errors.ts';
import type { TLSSocket } from 'node:tls';
import type { Identity, RequestContext } from '../../pipeline/types.ts';
import { GatewayError } from '../../problem.ts';
import type { Consumer, Store } from '../../store/types.ts';
import type { Authenticator, AuthenticatorFactory } from '../authn/types.ts';
import { cachedConsumerLookup } from '../authn/consumers.ts';
import type { MtlsAuthConfig } from './schema.ts';


/** The TLS socket a request arrived on (HTTP/1.1 or HTTP/2), or undefined over plain HTTP. */
export function tlsSocketOf(ctx: RequestContext): TLSSocket | undefined {
  const req = ctx.req as { socket?: unknown; stream?: { session?: { socket?: unknown } } };
  const socket = (req.stream?.session?.socket ?? req.socket) as Partial<TLSSocket> | undefined;
  return socket && typeof socket.getPeerCertificate === 'function' ? (socket as TLSSocket) : undefined;
}

/** Names a certificate can be mapped by: `CN=<subject CN>`, then each subjectAltName (`DNS:…`, `URI:…`, …). */
export function certificateNames(cert: { subject?: Partial<Record<string, string | string[]>>; subjectaltname?: string }): string[] {
  const names: string[] = [];
  const cn = cert.subject?.['CN'];
  if (typeof cn === 'string') names.push(`CN=${cn}`);
  if (cert.subjectaltname) for (const san of cert.subjectaltname.split(', ')) names.push(san);
  return names;
}

/**
 * Builds the client-certificate authenticator. The TLS listener requests a certificate without rejecting the
 * handshake (so public routes still work); here a connection without one yields no credential, one whose chain did
 * not verify against `listen.https.client_ca` (unknown CA, expired, not yet valid) is a 401, and a verified one is
 * mapped to a consumer by subject CN or SAN (unmapped → 401). Roles and tenant come from the store's consumer.
 */
export function createMtlsAuthenticator(config: MtlsAuthConfig, store: Store | undefined): Authenticator {
  const mapping = new Map(Object.entries(config.consumers));
  const lookup = cachedConsumerLookup(store);
  return {
    method: 'mtls',
    kind: 'mutualTLS',
    async authenticate(ctx: RequestContext): Promise<Identity | undefined> {
      if (!ctx.secure) return undefined;
      const socket = tlsSocketOf(ctx);
      if (!socket) return undefined;
      const cert = socket.getPeerCertificate();
      if (!cert || Object.keys(cert).length === 0) return undefined;
      if (!socket.authorized) {
        ctx.notes.authFailure = { method: 'mtls', reason: String(socket.authorizationError ?? 'unverified') };
        throw new GatewayError('invalid_token', `client certificate rejected: ${String(socket.authorizationError ?? 'unverified')}`);
      }
      const names = certificateNames(cert);
      const consumerId = names.map((n) => mapping.get(n)).find((id) => id !== undefined);
      if (consumerId === undefined) {
        ctx.notes.authFailure = { method: 'mtls', reason: 'unmapped' };
        throw new GatewayError('invalid_token', 'client certificate rejected: no consumer mapped to its subject or SANs');
      }
      let consumer: Consumer | undefined;
      try {
        consumer = await lookup(consumerId);
      } catch (error) {
        throw new GatewayError('service_unavailable', 'consumer store unavailable', { cause: error });
      }
      return Object.freeze({
        subject: consumerId,
        consumer: consumerId,
        ...(consumer?.tenant ? { tenant: consumer.tenant } : {}),
        roles: Object.freeze([...(consumer?.roles ?? [])]),
        scopes: Object.freeze([]),
        claims: Object.freeze({ certificate: { subject: names[0], fingerprint256: cert.fingerprint256, valid_to: cert.valid_to }, plan: consumer?.plan ?? null }),
        method: 'mtls',
      });
    },
  };
}

/**
 * The factory registered with the authenticate stage: active for APIs with `auth.mtls`.
 * @throws ConfigIssueError naming the config path when `listen.https.client_ca` is not configured.
 */
export const mtlsAuthenticatorFactory: AuthenticatorFactory = {
  name: 'mtls',
  kind: 'mutualTLS',
  create(input) {
    const config = input.auth.mtls;
    if (!config) return undefined;
    if (!input.config.listen.https?.client_ca) {
      throw new ConfigIssueError(`apis[${input.apiIndex}].auth.mtls`, 'needs listen.https.client_ca (the CA bundle client certificates are verified against)');
    }
    return createMtlsAuthenticator(config, (input.services as { store?: Store }).store);
  },
};
