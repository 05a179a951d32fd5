import type { Services } from '../../pipeline/types.ts';
import type { InvalidationBus } from '../../bus/invalidation.ts';

/** What a revocation check sees of a verified token. Times in seconds since the epoch. */
export interface RevocationSubject {
  readonly issuer: string;
  readonly subject: string;
  readonly issuedAt: number;
  readonly tokenId?: string;
}

/**
 * Revocation check run after a token's signature and claims verified. The monitoring/incident code calls
 * `revokeSubject` (e.g. "every token of alice issued before now") or `revokeToken`; the JWT authenticator calls
 * `isRevoked`. The in-memory implementation is per process; BusTokenRevocations shares subject revocations over
 * the invalidation bus (Redis pub/sub when `counters.kind` is redis).
 */
export interface TokenRevocations {
  isRevoked(token: RevocationSubject): boolean;
  /** Tokens of `subject` (from `issuer`, or any issuer when omitted) issued before `before` (seconds) are revoked. */
  revokeSubject(subject: string, before: number, issuer?: string): void;
  /** Lifts a subject revocation (incident resolved): its tokens are accepted again. */
  unrevokeSubject(subject: string, issuer?: string): void;
  /** One token by `jti`, remembered until `expiresAt` (seconds). */
  revokeToken(tokenId: string, expiresAt: number): void;
  /** Registers a cache of verified tokens to purge on every revocation (held weakly: a reload drops old caches). */
  onRevoke?(listener: RevocationListener): void;
}

/** What a revocation purges: the verified-token caches of the JWT verifiers (verified-cache.ts). */
export interface RevocationListener {
  purgeSubject(subject: string, before: number, issuer?: string): void;
  purgeToken(tokenId: string): void;
}

/** Upper bound on remembered revocations; oldest are dropped past it (bounded memory). */
export const MAX_REVOCATIONS = 100_000;

/** A per-process TokenRevocations in two bounded maps. `now` is in ms (default Date.now). */
export class InMemoryTokenRevocations implements TokenRevocations {
  readonly #subjects = new Map<string, number>();
  readonly #tokens = new Map<string, number>();
  readonly #now: () => number;
  readonly #listeners = new Set<WeakRef<RevocationListener>>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  isRevoked(token: RevocationSubject): boolean {
    if (this.#subjects.size > 0) {
      const before = Math.max(this.#subjects.get(`${token.issuer}\u0000${token.subject}`) ?? -1, this.#subjects.get(`\u0000${token.subject}`) ?? -1);
      if (token.issuedAt < before) return true;
    }
    if (token.tokenId !== undefined && this.#tokens.size > 0) {
      const until = this.#tokens.get(token.tokenId);
      if (until !== undefined) {
        if (until * 1000 > this.#now()) return true;
        this.#tokens.delete(token.tokenId);
      }
    }
    return false;
  }

  revokeSubject(subject: string, before: number, issuer?: string): void {
    const key = `${issuer ?? ''}\u0000${subject}`;
    this.#subjects.delete(key);
    this.#subjects.set(key, before);
    trim(this.#subjects);
    this.#notify((l) => l.purgeSubject(subject, before, issuer));
  }

  unrevokeSubject(subject: string, issuer?: string): void {
    this.#subjects.delete(`${issuer ?? ''}\u0000${subject}`);
  }

  revokeToken(tokenId: string, expiresAt: number): void {
    this.#tokens.delete(tokenId);
    this.#tokens.set(tokenId, expiresAt);
    trim(this.#tokens);
    this.#notify((l) => l.purgeToken(tokenId));
  }

  onRevoke(listener: RevocationListener): void {
    for (const ref of this.#listeners) if (ref.deref() === undefined) this.#listeners.delete(ref);
    this.#listeners.add(new WeakRef(listener));
  }

  #notify(purge: (listener: RevocationListener) => void): void {
    for (const ref of this.#listeners) {
      const listener = ref.deref();
      if (listener === undefined) this.#listeners.delete(ref);
      else purge(listener);
    }
  }
}

function trim(map: Map<string, number>): void {
  while (map.size > MAX_REVOCATIONS) map.delete(map.keys().next().value!);
}

/**
 * Subject revocations shared by every instance: each change is published on the bus and applied by every
 * subscriber (this instance included, synchronously). Token (`jti`) revocations stay per process.
 */
export class BusTokenRevocations implements TokenRevocations {
  readonly #local: InMemoryTokenRevocations;
  readonly #bus: InvalidationBus;

  constructor(bus: InvalidationBus, now: () => number = Date.now) {
    this.#local = new InMemoryTokenRevocations(now);
    this.#bus = bus;
    bus.subscribe((message) => {
      if (!('revokeSubject' in message)) return;
      if (message.before === null) this.#local.unrevokeSubject(message.revokeSubject, message.issuer);
      else this.#local.revokeSubject(message.revokeSubject, message.before, message.issuer);
    });
  }

  isRevoked(token: RevocationSubject): boolean {
    return this.#local.isRevoked(token);
  }

  revokeSubject(subject: string, before: number, issuer?: string): void {
    void this.#bus.publish({ revokeSubject: subject, before, ...(issuer !== undefined ? { issuer } : {}) });
  }

  unrevokeSubject(subject: string, issuer?: string): void {
    void this.#bus.publish({ revokeSubject: subject, before: null, ...(issuer !== undefined ? { issuer } : {}) });
  }

  revokeToken(tokenId: string, expiresAt: number): void {
    this.#local.revokeToken(tokenId, expiresAt);
  }

  onRevoke(listener: RevocationListener): void {
    this.#local.onRevoke(listener);
  }
}

const perProcess = new WeakMap<Services, TokenRevocations>();

/**
 * Makes `revocations` the list every JWT authenticator compiled with `services` uses. Call before compiling routes.
 * @throws Error when one was already in use for these services (authenticators would hold the old one).
 */
export function useTokenRevocations(services: Services, revocations: TokenRevocations): TokenRevocations {
  if (perProcess.has(services)) throw new Error('token revocations are already in use for these services');
  perProcess.set(services, revocations);
  return revocations;
}

/** The revocation list shared by every JWT authenticator of one gateway (created on first use). */
export function tokenRevocationsFor(services: Services): TokenRevocations {
  let revocations = perProcess.get(services);
  if (!revocations) {
    revocations = new InMemoryTokenRevocations();
    perProcess.set(services, revocations);
  }
  return revocations;
}
