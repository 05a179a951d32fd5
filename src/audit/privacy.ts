import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

const MAX_PSEUDONYMS = 10_000;

/** Field names that carry client IP addresses in audit records. */
const IP_FIELDS = new Set(['ip', 'clientIp', 'client_ip']);

/**
 * GDPR helpers applied to every record before it is hashed and stored: IPs replaced by a keyed hash (HMAC-SHA-256,
 * first 16 bytes, hex, prefixed `ip_`) so the same IP correlates across records without being stored, and fields
 * named in `redact` replaced by `"[redacted]"` at any depth.
 */
export class AuditPrivacy {
  readonly #ipKey: KeyObject | undefined;
  readonly #redact: ReadonlySet<string>;
  /** Pseudonyms already computed (bounded): an HMAC with key setup per record was ~10% of the full benchmark's CPU. */
  readonly #pseudonyms = new Map<string, string>();

  constructor(options: { ipKey?: string | Buffer; redactFields?: readonly string[] }) {
    // A KeyObject: createHmac imports a raw Buffer key on every call, six times the cost of the HMAC itself.
    this.#ipKey = options.ipKey === undefined ? undefined : createSecretKey(Buffer.from(options.ipKey));
    this.#redact = new Set((options.redactFields ?? []).map((f) => f.toLowerCase()));
  }

  /** The pseudonym of an IP (or the IP itself when pseudonymisation is off). */
  ip(ip: string): string {
    if (!this.#ipKey) return ip;
    let pseudonym = this.#pseudonyms.get(ip);
    if (pseudonym === undefined) {
      pseudonym = 'ip_' + createHmac('sha256', this.#ipKey).update(ip).digest('hex').slice(0, 32);
      if (this.#pseudonyms.size >= MAX_PSEUDONYMS) this.#pseudonyms.delete(this.#pseudonyms.keys().next().value!);
      this.#pseudonyms.set(ip, pseudonym);
    }
    return pseudonym;
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
