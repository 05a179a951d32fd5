/**
 * The key handling of encryption at rest: KEK material and its config (a literal is a config error naming the
 * path; so is a key that is not 32 bytes, a duplicate id, an unknown active id, a shared database without KEKs),
 * the generated KEK of an embedded store, and the binding of a wrapped data key to its purpose, id and KEK id.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../config/errors.ts';
import { loadConfigText } from '../../config/load.ts';
import { FieldCipher, newDataKey, rewrapDataKey } from './cipher.ts';
import { GENERATED_KEK_FILE, keyringFromConfig, requireKeyring } from './config.ts';
import { Keyring, KeyringError, parseKeyMaterial } from './keyring.ts';

const BASE = `listen: { http: { port: 0, host: 127.0.0.1, insecure: true } }
upstreams: { up: { url: "http://127.0.0.1:9" } }
apis: [ { name: pass, passthrough: true, upstream: up } ]
`;
const issuesOf = (text: string, env: NodeJS.ProcessEnv = {}) => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-kek-'));
  try {
    const { config, file } = loadConfigText(BASE + text, join(dir, 'rampart.yaml'), env);
    keyringFromConfig(config.store, file);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((i) => `${i.path}: ${i.message}`);
  }
};

describe('KEK material', () => {
  test('32 bytes as hex, base64 or base64url; anything else is refused', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseKeyMaterial(key.toString('hex')), key);
    assert.deepEqual(parseKeyMaterial(key.toString('base64')), key);
    assert.deepEqual(parseKeyMaterial(key.toString('base64url')), key);
    assert.deepEqual(parseKeyMaterial(`${key.toString('base64')}\n`), key, 'a trailing newline of a secret file');
    for (const bad of [randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), randomBytes(16).toString('hex'), 'correct horse battery staple correct horse!', '', key.toString('base64').slice(0, -2) + 'B=']) {
      assert.equal(parseKeyMaterial(bad), undefined, bad);
    }
  });
});

describe('store.encryption config', () => {
  const kek = randomBytes(32).toString('base64');
  test('a literal KEK is a config error naming its path', () => {
    assert.deepEqual(issuesOf(`store: { encryption: { keks: [ { id: k1, key: "${kek}" } ], active: k1 } }\n`), ['store.encryption.keks[0].key: a literal secret is not allowed here']);
  });
  test('a referenced key that is not 32 bytes, a duplicate id and an unknown active id are config errors naming their paths', () => {
    assert.deepEqual(issuesOf('store: { encryption: { keks: [ { id: k1, key: "${env:K}" } ], active: k1 } }\n', { K: 'short' }), ['store.encryption.keks[0].key: is not 32 bytes (64 hex digits or base64)']);
    assert.deepEqual(issuesOf('store: { encryption: { keks: [ { id: k1, key: "${env:K}" }, { id: k1, key: "${env:K}" } ], active: k2 } }\n', { K: kek }), [
      'store.encryption.keks[1].id: KEK id "k1" is listed twice',
      'store.encryption.active: names no configured KEK ("k2")',
    ]);
    assert.deepEqual(issuesOf('store: { encryption: { keks: [ { id: k1, key: "${env:MISSING}" } ], active: k1 } }\n'), ['store.encryption.keks[0].key: environment variable MISSING is not set']);
  });
  test('a shared database (store or audit trail on PostgreSQL) needs configured KEKs', () => {
    const pepper = 'auth_keys: { pepper: "${env:P}" }\n';
    assert.deepEqual(issuesOf(`store: { kind: postgres, url: "\${env:DB}" }\n${pepper}`, { DB: 'postgres://x@127.0.0.1/db', P: 'p'.repeat(40) }), ['store.encryption: is required with store.kind postgres (every instance must unwrap the same data keys)']);
    assert.deepEqual(issuesOf('audit: { store: { kind: postgres, url: "${env:DB}" } }\n', { DB: 'postgres://x@127.0.0.1/db' }), ['store.encryption: is required with audit.store.kind postgres (every instance must unwrap the same data keys)']);
    assert.deepEqual(issuesOf(`store: { kind: postgres, url: "\${env:DB}", encryption: { keks: [ { id: k1, key: "\${env:K}" } ], active: k1 } }\n${pepper}`, { DB: 'postgres://x@127.0.0.1/db', P: 'p'.repeat(40), K: kek }), []);
  });
  test('without store.encryption, SQLite generates one KEK beside the database (0600) and keeps using it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-kek-'));
    const store = { kind: 'sqlite', path: './data/rampart.db' };
    const first = keyringFromConfig(store, join(dir, 'rampart.yaml'));
    const file = join(dir, 'data', GENERATED_KEK_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(parseKeyMaterial(readFileSync(file, 'utf8')));
    const { row, key } = newDataKey(first, 'consumers', 1);
    const second = keyringFromConfig(store, join(dir, 'rampart.yaml'));
    assert.deepEqual(second.unwrap(row.purpose, row.id, row.kek_id, row.wrapped), key, 'the second start unwraps what the first wrapped');
    assert.equal(second.activeId, 'local');
  });
  test('a store opens only with a keyring', () => {
    assert.throws(() => requireKeyring(undefined, 'X'), /X: no key-encryption keyring/);
    const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }], 'k1');
    assert.equal(requireKeyring(keyring, 'X'), keyring);
  });
});

describe('wrapped data keys', () => {
  test('a wrapped data key is bound to its purpose, its id and its KEK id (even when two ids hold the same key)', () => {
    const material = randomBytes(32);
    const keyring = new Keyring([{ id: 'a', key: material }, { id: 'b', key: material }], 'a');
    const { row, key } = newDataKey(keyring, 'consumers', 1);
    assert.deepEqual(keyring.unwrap('consumers', row.id, 'a', row.wrapped), key);
    assert.throws(() => keyring.unwrap('api_keys', row.id, 'a', row.wrapped), KeyringError, 'another purpose');
    assert.throws(() => keyring.unwrap('consumers', 'dk_0000000000000000', 'a', row.wrapped), KeyringError, 'another id');
    assert.throws(() => keyring.unwrap('consumers', row.id, 'b', row.wrapped), KeyringError, 'relabelled to another KEK id');
    assert.throws(() => keyring.unwrap('consumers', row.id, 'a', row.wrapped.slice(0, -2)), KeyringError, 'truncated');
  });
  test('re-wrapping keeps the data key: a value sealed before reads after, under the new KEK alone', () => {
    const a = { id: 'a', key: randomBytes(32) };
    const b = { id: 'b', key: randomBytes(32) };
    const { row, key } = newDataKey(new Keyring([a], 'a'), 'consumers', 1);
    const before = new FieldCipher();
    before.add(row, key);
    const sealed = before.seal('consumers', 'alice', 'name', 'Alice');
    const rewrapped = rewrapDataKey(row, new Keyring([a, b], 'b'), 2)!;
    assert.equal(rewrapped.kek_id, 'b');
    assert.equal(rewrapDataKey(rewrapped, new Keyring([b], 'b'), 3), undefined, 'already under the active KEK');
    assert.equal(FieldCipher.fromRows([rewrapped], new Keyring([b], 'b')).open('consumers', 'alice', 'name', sealed), 'Alice');
    assert.throws(() => FieldCipher.fromRows([rewrapped], new Keyring([a], 'a')), /KEK "b", which is not configured/);
  });
  test('each seal uses a fresh IV: the same plaintext never gives the same ciphertext', () => {
    const { row, key } = newDataKey(new Keyring([{ id: 'a', key: randomBytes(32) }], 'a'), 'consumers', 1);
    const cipher = new FieldCipher();
    cipher.add(row, key);
    const values = new Set(Array.from({ length: 50 }, () => cipher.seal('consumers', 'alice', 'name', 'Alice')));
    assert.equal(values.size, 50);
  });
});
