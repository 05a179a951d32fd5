import { SECRET_REF_PATTERN } from '../config/refs.ts';
import type { ConfigIssue } from '../config/errors.ts';
import { checkStoreEncryption, storeEncryptionSchema, type StoreEncryptionConfig } from './encryption/config.ts';

/** `store:` — where consumers, API keys (hashed) and admin events live. */
export const storeSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Where consumers, API keys (hashed only) and admin events live: embedded SQLite (default) or PostgreSQL (scale-out).',
  properties: {
    kind: { enum: ['sqlite', 'postgres'], default: 'sqlite', description: 'Store backend.' },
    path: {
      type: 'string',
      minLength: 1,
      default: './data/rampart.db',
      description: 'SQLite database file (`kind: sqlite`), relative to the config file. Created with its directory; WAL journal.',
    },
    url: {
      type: 'string',
      minLength: 1,
      description:
        'PostgreSQL URL (`kind: postgres`), e.g. `${env:DATABASE_URL}`. A URL carrying a password must be a reference; a literal password is rejected.',
    },
    schema: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'rampart', description: 'PostgreSQL schema for Rampart\'s tables (created if missing).' },
    max_connections: { type: 'integer', minimum: 1, maximum: 200, default: 10, description: 'PostgreSQL pool size.' },
    encryption: storeEncryptionSchema,
  },
} as const;

export interface StoreConfig {
  readonly kind: 'sqlite' | 'postgres';
  readonly path: string;
  readonly url?: string;
  readonly schema: string;
  readonly max_connections: number;
  readonly encryption?: StoreEncryptionConfig;
}

/**
 * Cross-field checks of `store` (run before references are resolved, so literal passwords can be spotted).
 * `auditStoreKind` is the kind of the audit database when the audit trail is on: incidents live there, encrypted
 * under the same keyring, so a shared audit database needs configured KEKs too.
 */
export function checkStoreConfig(store: StoreConfig | undefined, auditStoreKind?: string): ConfigIssue[] {
  if (!store) return [];
  const shared = store.kind === 'postgres' ? 'store.kind' : auditStoreKind === 'postgres' ? 'audit.store.kind' : undefined;
  const issues: ConfigIssue[] = [...checkStoreEncryption(store.encryption, shared)];
  if (store.kind === 'postgres') {
    if (!store.url) issues.push({ path: 'store.url', message: 'is required with kind: postgres', hint: 'set url: ${env:DATABASE_URL}' });
    else if (!new RegExp(SECRET_REF_PATTERN).test(store.url)) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(store.url);
      } catch {
        issues.push({ path: 'store.url', message: 'is not a valid URL', hint: 'use postgres://user@host:5432/db or ${env:DATABASE_URL}' });
      }
      if (parsed && !/^postgres(ql)?:$/.test(parsed.protocol)) issues.push({ path: 'store.url', message: 'must be a postgres:// URL', hint: 'use postgres://user@host:5432/db' });
      else if (parsed && parsed.password !== '') {
        issues.push({ path: 'store.url', message: 'a literal password is not allowed here', hint: 'use ${env:DATABASE_URL} or ${file:/path/to/secret}' });
      }
    }
  } else if (store.url !== undefined) {
    issues.push({ path: 'store.url', message: 'only applies to kind: postgres', hint: 'remove it or set kind: postgres' });
  }
  return issues;
}
