/** Versioned PostgreSQL migrations (run inside the configured schema). Append only. */
export const POSTGRES_MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'consumers, api keys, admin events',
    sql: `
      CREATE TABLE consumers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tenant TEXT,
        roles JSONB NOT NULL DEFAULT '[]',
        groups JSONB NOT NULL DEFAULT '[]',
        plan TEXT,
        metadata JSONB NOT NULL DEFAULT '{}',
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX consumers_tenant ON consumers (tenant);
      CREATE INDEX consumers_updated ON consumers (updated_at);
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        prefix TEXT NOT NULL,
        consumer_id TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        scopes JSONB NOT NULL DEFAULT '[]',
        expires_at BIGINT,
        plan TEXT,
        metadata JSONB NOT NULL DEFAULT '{}',
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT,
        replaced_by TEXT,
        grace_until BIGINT
      );
      CREATE INDEX api_keys_consumer ON api_keys (consumer_id);
      CREATE INDEX api_keys_updated ON api_keys (updated_at);
      CREATE TABLE admin_events (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT,
        details JSONB NOT NULL DEFAULT '{}'
      );
    `,
  },
  {
    version: 2,
    name: 'encryption at rest: wrapped data keys, encrypted columns as text',
    // Encrypted columns hold envelopes (text), no longer JSON. The rows written before this version are encrypted
    // in the same transaction, when each table's data key is created (PostgresStore#openCipher).
    sql: `
      CREATE TABLE data_keys (
        id TEXT PRIMARY KEY,
        purpose TEXT NOT NULL UNIQUE,
        kek_id TEXT NOT NULL,
        wrapped TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        wrapped_at BIGINT NOT NULL
      );
      ALTER TABLE consumers ALTER COLUMN metadata DROP DEFAULT, ALTER COLUMN metadata TYPE TEXT USING metadata::text;
      ALTER TABLE api_keys ALTER COLUMN metadata DROP DEFAULT, ALTER COLUMN metadata TYPE TEXT USING metadata::text;
      ALTER TABLE admin_events ALTER COLUMN details DROP DEFAULT, ALTER COLUMN details TYPE TEXT USING details::text;
    `,
  },
  {
    version: 3,
    name: 'signature keys (RFC 9421 partner keys)',
    // `secret` holds an envelope on every row (the HMAC secret, or null for an asymmetric key): PostgresStore seals it.
    sql: `
      CREATE TABLE signature_keys (
        keyid TEXT PRIMARY KEY,
        consumer_id TEXT NOT NULL,
        algorithm TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256')),
        public_key TEXT,
        secret TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE INDEX signature_keys_consumer ON signature_keys (consumer_id);
    `,
  },
];
