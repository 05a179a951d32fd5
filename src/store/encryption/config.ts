import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../../config/errors.ts';
import { readOrCreateSecretFile } from '../../config/generated-secret.ts';
import { secretRef } from '../../config/refs.ts';
import type { Logger } from '../../log.ts';
import { KEY_ID, Keyring, parseKeyMaterial } from './keyring.ts';

/** `store.encryption`: the key-encryption keys that wrap the data keys of every Rampart database. */
export const storeEncryptionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['keks', 'active'],
  description:
    'Encryption at rest (AES-256-GCM envelope encryption, docs/encryption-at-rest.md) of consumer names and metadata, key metadata, admin event details and incidents: each table has a data key, wrapped by the active key-encryption key (KEK). Required when a database is shared (`store.kind` or `audit.store.kind` postgres). When absent with SQLite, a KEK is generated at `store-kek` beside the database (mode 0600): it protects copies of the database file, not of its directory.',
  properties: {
    keks: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      description: 'Key-encryption keys by id. Keep a retired KEK listed until `rampart keys rotate-kek` reports no data key under it.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'key'],
        properties: {
          id: { type: 'string', pattern: KEY_ID.source, description: 'KEK id, stored beside every data key it wraps (never change the key under an id).' },
          key: { ...secretRef, description: '32 random bytes (64 hex digits or base64), as a reference: `${env:RAMPART_KEK}` or `${file:/run/secrets/kek}`. Generate one with `openssl rand -base64 32`.' },
        },
      },
    },
    active: { type: 'string', pattern: KEY_ID.source, description: 'Id of the KEK that wraps new data keys and that `rampart keys rotate-kek` re-wraps every data key under.' },
  },
} as const;

export interface StoreEncryptionConfig {
  readonly keks: readonly { readonly id: string; readonly key: string }[];
  readonly active: string;
}

/** The file of the generated KEK (SQLite without `store.encryption`), beside the database. */
export const GENERATED_KEK_FILE = 'store-kek';
/** Id of the generated KEK. */
export const GENERATED_KEK_ID = 'local';

/** Cross-field checks of `store.encryption`, before references are resolved. */
export function checkStoreEncryption(encryption: StoreEncryptionConfig | undefined, sharedDatabase: string | undefined): ConfigIssue[] {
  if (!encryption) {
    return sharedDatabase
      ? [{ path: 'store.encryption', message: `is required with ${sharedDatabase} postgres (every instance must unwrap the same data keys)`, hint: 'set encryption: { keks: [{ id: k1, key: ${env:RAMPART_KEK} }], active: k1 }' }]
      : [];
  }
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  encryption.keks.forEach((kek, i) => {
    if (seen.has(kek.id)) issues.push({ path: `store.encryption.keks[${i}].id`, message: `KEK id "${kek.id}" is listed twice`, hint: 'give every KEK its own id' });
    seen.add(kek.id);
  });
  if (!seen.has(encryption.active)) {
    issues.push({ path: 'store.encryption.active', message: `names no configured KEK ("${encryption.active}")`, hint: `use one of: ${[...seen].join(', ')}` });
  }
  return issues;
}

/**
 * The keyring of `store.encryption` (references already resolved), or, when it is absent and the store is SQLite,
 * one KEK generated once at `store-kek` beside the database (0600, like the key pepper).
 * @throws ConfigError naming `store.encryption.keks[i].key` when a key is not 32 bytes of hex or base64.
 */
export function keyringFromConfig(
  store: { readonly kind: string; readonly path: string; readonly encryption?: StoreEncryptionConfig },
  configFile: string,
  logger?: Logger,
): Keyring {
  const encryption = store.encryption;
  if (!encryption) {
    if (store.kind !== 'sqlite') {
      throw new ConfigError(configFile, [{ path: 'store.encryption', message: 'is required with store.kind postgres', hint: 'set encryption: { keks: [{ id: k1, key: ${env:RAMPART_KEK} }], active: k1 }' }]);
    }
    const file = join(dirname(resolve(dirname(configFile), store.path)), GENERATED_KEK_FILE);
    const { value, created } = readOrCreateSecretFile(file, () => randomBytes(32).toString('base64url'));
    if (created) logger?.warn({ file }, 'generated a store key-encryption key; back it up apart from the database, or set store.encryption');
    const key = parseKeyMaterial(value);
    if (!key) throw new ConfigError(configFile, [{ path: 'store.encryption', message: `the generated KEK file ${file} does not hold 32 bytes of base64`, hint: 'restore it from its backup, or set store.encryption' }]);
    return new Keyring([{ id: GENERATED_KEK_ID, key }], GENERATED_KEK_ID);
  }
  const issues: ConfigIssue[] = [];
  const keks: { id: string; key: Buffer }[] = [];
  encryption.keks.forEach((kek, i) => {
    const key = parseKeyMaterial(kek.key);
    if (key) keks.push({ id: kek.id, key });
    else issues.push({ path: `store.encryption.keks[${i}].key`, message: 'is not 32 bytes (64 hex digits or base64)', hint: 'generate one with `openssl rand -base64 32`' });
  });
  issues.push(...checkStoreEncryption(encryption, undefined));
  if (issues.length > 0) throw new ConfigError(configFile, issues);
  return new Keyring(keks, encryption.active);
}

/** The keyring a store was given. @throws Error without one: a store never opens in clear. */
export function requireKeyring(keyring: Keyring | undefined, what: string): Keyring {
  if (!keyring) throw new Error(`${what}: no key-encryption keyring (store.encryption); refusing to open a store that would keep personal data in clear`);
  return keyring;
}
