/**
 * The security event bus: policies (authentication, brute-force protection, rate limiting, key management) emit
 * typed events here; the audit trail, metrics and anomaly detectors subscribe. `emit` is synchronous and cheap:
 * listeners only enqueue, never do I/O inline, and a throwing listener never reaches the emitter (fail-safe: the
 * request path is never broken by monitoring).
 */

/** Every event type Rampart emits. Add new ones here (and to docs/monitoring.md). */
export const SECURITY_EVENT_TYPES = [
  'auth.success',
  'auth.failure',
  'lockout',
  'lockout.lifted',
  'rate_limited',
  'credential_stuffing',
  'distributed_brute_force',
  'key.created',
  'key.rotated',
  'key.revoked',
  'key.suspended',
  'key.reinstated',
  'token.revoked',
  'admin.action',
  'waf.hit',
  'waf.leak',
] as const;

export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** One security event. Never carries a secret (no tokens, keys, passwords): only ids and reason codes. */
export interface SecurityEvent {
  readonly type: SecurityEventType;
  /** Epoch milliseconds; filled by `emit` when absent. */
  readonly at?: number;
  readonly requestId?: string;
  /** Client IP as the gateway determined it (trusted proxies only). */
  readonly ip?: string;
  readonly subject?: string;
  readonly consumer?: string;
  /** API key id (never the key). */
  readonly keyId?: string;
  /** Authentication method: `jwt`, `api_key`, `introspection`, `mtls`, … */
  readonly method?: string;
  /** Stable reason code, e.g. `expired`, `bad_signature`, `unknown_key`. */
  readonly reason?: string;
  /** Who did it, for admin actions and key lifecycle (`cli`, an admin user). */
  readonly actor?: string;
  /** Extra fields (small, bounded, no secrets). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

export type SecurityEventListener = (event: SecurityEvent & { readonly at: number }) => void;

/** A small synchronous typed emitter. One instance per gateway process, shared through `Services.events`. */
export class SecurityEvents {
  readonly #listeners = new Set<SecurityEventListener>();
  readonly #now: () => number;
  readonly #onListenerError: (error: unknown) => void;

  /**
   * @param options.now clock in epoch ms (default Date.now) — injectable for tests.
   * @param options.onListenerError called when a listener throws (default: ignore).
   */
  constructor(options: { now?: () => number; onListenerError?: (error: unknown) => void } = {}) {
    this.#now = options.now ?? Date.now;
    this.#onListenerError = options.onListenerError ?? (() => undefined);
  }

  /** Subscribes; returns the unsubscribe function. */
  on(listener: SecurityEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Delivers an event to every listener. Never throws. */
  emit(event: SecurityEvent): void {
    const stamped = event.at === undefined ? { ...event, at: this.#now() } : (event as SecurityEvent & { at: number });
    for (const listener of this.#listeners) {
      try {
        listener(stamped);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
