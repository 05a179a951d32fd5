import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import { errorForLog } from '../log.ts';
import type { AlertConfig, Severity } from './schema.ts';

export const SIGNATURE_HEADER = 'rampart-signature';
/** Receivers should refuse signatures older (or newer) than this, in seconds. */
export const REPLAY_WINDOW_SECONDS = 300;
const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
const MAX_BACKOFF_MS = 60_000;

/** `t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<body>">`. */
export function signPayload(secret: string, body: string, timestampSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

/**
 * Verifies a `Rampart-Signature` header (receiver side; also what docs/alerts.md shows): the HMAC must match in
 * constant time and the timestamp must be within `toleranceSeconds` of `nowSeconds`.
 */
export function verifySignature(secret: string, body: string, header: string, nowSeconds: number, toleranceSeconds = REPLAY_WINDOW_SECONDS): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts['t']);
  const v1 = parts['v1'];
  if (!Number.isInteger(t) || typeof v1 !== 'string' || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

/** An alert about an incident. */
export interface Alert {
  readonly event: 'incident.opened' | 'incident.updated' | 'incident.resolved';
  readonly incident: { id: string; kind: string; severity: Severity; summary: string; subject: object; count: number; actions: readonly object[] };
}

function slackBody(alert: Alert): object {
  const i = alert.incident;
  const text = `:rotating_light: Rampart ${alert.event}: [${i.severity}] ${i.kind} — ${i.summary} (incident ${i.id})`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/**
 * A dead-letter line: what failed, where and when, and which incident, with no personal data (the subject and the
 * actions name IPs, consumers and keys; the summary is free text). The incident is read by id from the admin API.
 */
function deadLetterLine(alert: Alert, target: AlertConfig, error: string, now: number): object {
  const { id, kind, severity } = alert.incident;
  return { at: new Date(now).toISOString(), host: new URL(target.url).host, error, alert: { event: alert.event, incident: { id, kind, severity } } };
}

/**
 * Sends signed alert webhooks: each delivery POSTs JSON with `Rampart-Signature`, a per-attempt timeout, no
 * redirects, and retries with exponential backoff (first `backoff_ms`, doubling, capped at 60 s) up to
 * `max_attempts`; then the alert's non-personal fields go to the dead-letter file (JSON lines). Deliveries run in
 * the background.
 */
export class AlertSender {
  readonly #targets: readonly AlertConfig[];
  readonly #deadLetter: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #pending = new Set<Promise<void>>();
  readonly #onResult: (result: 'delivered' | 'retry' | 'dead_letter') => void;
  #stopped = false;

  constructor(targets: readonly AlertConfig[], deadLetterFile: string, logger: Logger, options: { now?: () => number; onResult?: (r: 'delivered' | 'retry' | 'dead_letter') => void } = {}) {
    this.#targets = targets;
    this.#deadLetter = deadLetterFile;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    this.#onResult = options.onResult ?? (() => undefined);
  }

  /** Queues the alert to every target whose min_severity it reaches. */
  send(alert: Alert): void {
    for (const target of this.#targets) {
      if (SEVERITY_RANK[alert.incident.severity] < SEVERITY_RANK[target.min_severity]) continue;
      const p = this.#deliver(target, alert).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  /** Waits for in-flight deliveries (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** Stops retrying (pending ones are dead-lettered at their next attempt). */
  stop(): void {
    this.#stopped = true;
  }

  async #deliver(target: AlertConfig, alert: Alert): Promise<void> {
    const body = JSON.stringify(target.format === 'slack' ? slackBody(alert) : { ...alert, sentAt: new Date(this.#now()).toISOString() });
    let lastError = '';
    for (let attempt = 1; attempt <= target.max_attempts && !this.#stopped; attempt++) {
      try {
        const res = await fetch(target.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(target.timeout_ms),
          headers: { 'content-type': 'application/json', 'user-agent': 'rampart-alerts/1', [SIGNATURE_HEADER]: signPayload(target.secret, body, Math.floor(this.#now() / 1000)) },
          body,
        });
        await res.body?.cancel();
        if (res.status >= 200 && res.status < 300) {
          this.#onResult('delivered');
          return;
        }
        lastError = `HTTP ${res.status}`;
      } catch (error) {
        lastError = (error as Error).name;
      }
      this.#onResult('retry');
      if (attempt < target.max_attempts && !this.#stopped) {
        await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, target.backoff_ms * 2 ** (attempt - 1))).unref());
      }
    }
    this.#onResult('dead_letter');
    this.#logger.error({ incident: alert.incident.id, error: lastError }, 'alert webhook failed; written to the dead-letter log');
    try {
      await mkdir(dirname(this.#deadLetter), { recursive: true, mode: 0o700 });
      await appendFile(this.#deadLetter, JSON.stringify(deadLetterLine(alert, target, lastError, this.#now())) + '\n', { mode: 0o600 });
    } catch (error) {
      this.#logger.error({ err: errorForLog(error) }, 'could not write the alert dead-letter log');
    }
  }
}
