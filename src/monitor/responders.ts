/**
 * Containment hooks other modules implement (API keys, token revocation, rate limiting). The monitor calls them
 * when an incident asks for containment; each call must be idempotent and each has an inverse so every action is
 * reversible. Implementations register on `Monitor.responders` (whichever exist are used; a missing one makes the
 * action `unavailable` on the incident, never a silent success).
 */
export interface KeySuspender {
  /** Suspends an API key by id (requests with it are refused until reinstated). */
  suspendKey(keyId: string, reason: string): Promise<void>;
  /** `actor`: who resolved the incident (audited). */
  reinstateKey(keyId: string, actor?: string): Promise<void>;
}

export interface TokenRevoker {
  /** Revokes every token of `subject` issued before `before` (epoch ms). */
  revokeTokensBefore(subject: string, before: number, reason: string): Promise<void>;
  /** Lifts that revocation (tokens issued before it are accepted again). */
  unrevoke(subject: string, actor?: string): Promise<void>;
}

export interface RateTightener {
  /** Multiplies the consumer's rate limits by `factor` (0 < factor ≤ 1) until `until` (epoch ms). */
  tighten(consumer: string, factor: number, until: number, reason: string): Promise<void>;
  relax(consumer: string, actor?: string): Promise<void>;
}

/** The responders available in this process. */
export interface Responders {
  keys?: KeySuspender;
  tokens?: TokenRevoker;
  rates?: RateTightener;
}
