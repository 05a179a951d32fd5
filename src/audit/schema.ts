import { secretRef } from '../config/refs.ts';

/** `audit:` — the tamper-evident audit trail. */
export const auditSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The tamper-evident audit trail (hash-chained, MAC-keyed records, signed checkpoints and published signed heads). See docs/audit.md.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Record security decisions, admin actions and sensitive operations.' },
    data_dir: {
      type: 'string',
      minLength: 1,
      default: 'data',
      description: 'Directory (relative to the config file) for the SQLite audit database and generated keys.',
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Where records are stored: SQLite (WAL, synchronous=FULL) or PostgreSQL. Incidents and blocks share it.',
      properties: {
        kind: { enum: ['sqlite', 'postgres'], default: 'sqlite', description: 'Backend.' },
        path: { type: 'string', minLength: 1, description: 'SQLite file; default `<data_dir>/audit.db`.' },
        url: { ...secretRef, description: 'PostgreSQL connection string: a `${env:…}`/`${file:…}` reference.' },
        schema: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'public', description: 'PostgreSQL schema.' },
      },
    },
    signing_key: {
      ...secretRef,
      description:
        'Ed25519 private key (PKCS#8 PEM) that signs checkpoints, as a reference. When absent one is generated at `<data_dir>/audit-signing.key` (mode 0600) — development only.',
    },
    checkpoint_every: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 1000,
      description: 'A signed checkpoint every N records (in the database); a new signed head is also published as soon as N records are not yet covered by one.',
    },
    head_interval_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 60_000,
      default: 1000,
      description: 'A signed head of the chain is published at most this often while records are written, and within this many ms of the last record (ms).',
    },
    head_file: {
      type: 'string',
      minLength: 1,
      description: 'Where the signed head is written (relative to the config file); default `<data_dir>/audit-head.json`. Keep a copy off-host: `rampart audit verify --head` needs it.',
    },
    retention_days: { type: 'integer', minimum: 1, maximum: 36500, default: 90, description: 'Records older than this are pruned (up to a checkpoint).' },
    pseudonymise_ips: { type: 'boolean', default: true, description: 'Store client IPs as a keyed hash (HMAC-SHA-256) instead of the address.' },
    ip_key: {
      ...secretRef,
      description: 'HMAC key for IP pseudonyms, as a reference. When absent one is generated at `<data_dir>/audit-ip.key` (mode 0600).',
    },
    redact_fields: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 64 },
      maxItems: 256,
      default: ['email', 'name', 'phone', 'address', 'password', 'token'],
      description: 'Field names masked as "[redacted]" at any depth of a record.',
    },
    durability: {
      enum: ['sync', 'async'],
      default: 'sync',
      description:
        '`sync`: a response is not completed until its audit records are committed (group commit, a few ms). `async`: records are batched without holding responses (may lose the last ms on a crash).',
    },
    flush_interval_ms: { type: 'integer', minimum: 0, maximum: 1000, default: 0, description: 'Group-commit delay in ms. 0: a batch is committed at the end of the event-loop turn, or right after the commit in flight (records arriving meanwhile share it), and no sooner than 1 ms after the previous commit started (under load commits are bounded to 1000/s and batches grow; at low load nothing waits).' },
    record_allowed: {
      enum: ['authenticated', 'sensitive', 'none'],
      default: 'authenticated',
      description: 'Which allowed requests get a record: every authenticated one (auth success), only sensitive operations, or none. Denies are always recorded.',
    },
    sensitive_operations: {
      type: 'array',
      items: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$' },
      maxItems: 1024,
      default: [],
      description: 'operationIds always recorded (in addition to operations marked `x-rampart-sensitive: true` in the spec).',
    },
  },
} as const;

export interface AuditConfig {
  readonly enabled: boolean;
  readonly data_dir: string;
  readonly store: { readonly kind: 'sqlite' | 'postgres'; readonly path?: string; readonly url?: string; readonly schema: string };
  readonly signing_key?: string;
  readonly checkpoint_every: number;
  readonly head_interval_ms: number;
  readonly head_file?: string;
  readonly retention_days: number;
  readonly pseudonymise_ips: boolean;
  readonly ip_key?: string;
  readonly redact_fields: readonly string[];
  readonly durability: 'sync' | 'async';
  readonly flush_interval_ms: number;
  readonly record_allowed: 'authenticated' | 'sensitive' | 'none';
  readonly sensitive_operations: readonly string[];
}
