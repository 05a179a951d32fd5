/** Versioned SQLite migrations. Append only: never edit a released migration. */
export const SQLITE_MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'consumers, api keys, admin events',
    sql: `
      CREATE TABLE consumers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        tenant TEXT,
        roles TEXT NOT NULL DEFAULT '[]',
        groups TEXT NOT NULL DEFAULT '[]',
        plan TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX consumers_tenant ON consumers (tenant);
      CREATE INDEX consumers_updated ON consumers (updated_at);
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        prefix TEXT NOT NULL,
        consumer_id TEXT NOT NULL,
        key_hash TEXT NOT NULL,
        scopes TEXT NOT NULL DEFAULT '[]',
        expires_at INTEGER,
        plan TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER,
        replaced_by TEXT,
        grace_until INTEGER
      ) STRICT;
      CREATE INDEX api_keys_consumer ON api_keys (consumer_id);
      CREATE INDEX api_keys_updated ON api_keys (updated_at);
      CREATE TABLE admin_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT,
        details TEXT NOT NULL DEFAULT '{}'
      );
    `,
  },
  {
    version: 2,
    name: 'encryption at rest: wrapped data keys',
    // The rows written before this version are encrypted in the same transaction, when each table's data key is
    // created (SqliteStore#openCipher); from then on the encrypted columns hold only envelopes.
    sql: `
      CREATE TABLE data_keys (
        id TEXT PRIMARY KEY,
        purpose TEXT NOT NULL UNIQUE,
        kek_id TEXT NOT NULL,
        wrapped TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        wrapped_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'signature keys (RFC 9421 partner keys)',
    // `secret` holds an envelope on every row (the HMAC secret, or null for an asymmetric key): SqliteStore seals it.
    sql: `
      CREATE TABLE signature_keys (
        keyid TEXT PRIMARY KEY,
        consumer_id TEXT NOT NULL,
        algorithm TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha512', 'hmac-sha256')),
        public_key TEXT,
        secret TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX signature_keys_consumer ON signature_keys (consumer_id);
    `,
  },
];
