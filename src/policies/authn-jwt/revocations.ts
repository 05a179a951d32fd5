import type { Services } from '../../pipeline/services.ts';

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
 * `isRevoked`. The in-memory implementation is per process; a shared implementation (Redis pub/sub) can replace it
 * behind this interface.
 */
export interface TokenRevocations {
  isRevoked(token: RevocationSubject): boolean;
  /** Tokens of `subject` (from `issuer`, or any issuer when omitted) issued before `before` (seconds) are revoked. */
  revokeSubject(subject: string, before: number, issuer?: string): void;
  /** One token by `jti`, remembered until `expiresAt` (seconds). */
  revokeToken(tokenId: string, expiresAt: number): void;
}

/** Upper bound on remembered revocations; oldest are dropped past it (bounded memory). */
export const MAX_REVOCATIONS = 100_000;

/** A per-process TokenRevocations in two bounded maps. `now` is in ms (default Date.now). */
export class InMemoryTokenRevocations implements TokenRevocations {
  readonly #subjects = new Map<string, number>();
  readonly #tokens = new Map<string, number>();
  readonly #now: () => number;

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
  }

  revokeToken(tokenId: string, expiresAt: number): void {
    this.#tokens.delete(tokenId);
    this.#tokens.set(tokenId, expiresAt);
    trim(this.#tokens);
  }
}

function trim(map: Map<string, number>): void {
  while (map.size > MAX_REVOCATIONS) map.delete(map.keys().next().value!);
}

const perProcess = new WeakMap<Services, TokenRevocations>();

/** The revocation list shared by every JWT authenticator of one gateway (created on first use). */
export function tokenRevocationsFor(services: Services): TokenRevocations {
  let revocations = perProcess.get(services);
  if (!revocations) {
    revocations = new InMemoryTokenRevocations();
    perProcess.set(services, revocations);
  }
  return revocations;
}
