import { createHmac } from 'node:crypto';

/** Field names that carry client IP addresses in audit records. */
const IP_FIELDS = new Set(['ip', 'clientIp', 'client_ip']);

/**
 * GDPR helpers applied to every record before it is hashed and stored: IPs replaced by a keyed hash (HMAC-SHA-256,
 * first 16 bytes, hex, prefixed `ip_`) so the same IP correlates across records without being stored, and fields
 * named in `redact` replaced by `"[redacted]"` at any depth.
 */
export class AuditPrivacy {
  readonly #ipKey: Buffer | undefined;
  readonly #redact: ReadonlySet<string>;

  constructor(options: { ipKey?: string | Buffer; redactFields?: readonly string[] }) {
    this.#ipKey = options.ipKey === undefined ? undefined : Buffer.from(options.ipKey);
    this.#redact = new Set((options.redactFields ?? []).map((f) => f.toLowerCase()));
  }

  /** The pseudonym of an IP (or the IP itself when pseudonymisation is off). */
  ip(ip: string): string {
    if (!this.#ipKey) return ip;
    return 'ip_' + createHmac('sha256', this.#ipKey).update(ip).digest('hex').slice(0, 32);
  }

  /** Returns a copy of `fields` with IPs pseudonymised and redacted fields masked. */
  apply(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
    return this.#walk(fields, 0) as Record<string, unknown>;
  }

  #walk(value: unknown, depth: number): unknown {
    if (depth > 8 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.#walk(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (this.#redact.has(k.toLowerCase())) out[k] = '[redacted]';
      else if (IP_FIELDS.has(k) && typeof v === 'string') out[k] = this.ip(v);
      else out[k] = this.#walk(v, depth + 1);
    }
    return out;
  }
}
