import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FieldCipher, FieldDecryptError, fieldKeyBytes, isFieldCiphertext } from './cipher.ts';
import { EACH, markedFields, rewriteAt } from './fields.ts';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const AAD = 'rampart.field.v1\0crm\0email';

test('randomized values differ each time, deterministic ones repeat; both round-trip any JSON value', () => {
  const cipher = new FieldCipher([{ id: 'k1', key: k1 }], 'k1');
  const a = cipher.encrypt('ann@example.com', AAD, 'randomized');
  const b = cipher.encrypt('ann@example.com', AAD, 'randomized');
  assert.notEqual(a, b);
  assert.match(a, /^rfe1\.k1\./);
  assert.equal(cipher.encrypt('123', AAD, 'deterministic'), cipher.encrypt('123', AAD, 'deterministic'));
  assert.notEqual(cipher.encrypt('123', AAD, 'deterministic'), cipher.encrypt('124', AAD, 'deterministic'));
  assert.notEqual(cipher.encrypt('123', AAD, 'deterministic'), cipher.encrypt('123', 'rampart.field.v1\0crm\0ssn', 'deterministic'), 'equal values of two fields do not match');
  for (const value of ['ann@example.com', 42, { nested: [1, 'x'] }, true]) assert.deepEqual(cipher.decrypt(cipher.encrypt(value, AAD, 'randomized'), AAD), value);
});

test('a ciphertext moved to another field, tampered, truncated or under an unknown key does not decrypt', () => {
  const cipher = new FieldCipher([{ id: 'k1', key: k1 }], 'k1');
  const value = cipher.encrypt('ann@example.com', AAD, 'randomized');
  assert.throws(() => cipher.decrypt(value, 'rampart.field.v1\0crm\0name'), FieldDecryptError);
  const raw = Buffer.from(value.split('.')[2]!, 'base64url');
  raw[raw.length - 1]! ^= 1;
  assert.throws(() => cipher.decrypt(`rfe1.k1.${raw.toString('base64url')}`, AAD), FieldDecryptError);
  assert.throws(() => cipher.decrypt(value.slice(0, 40), AAD), FieldDecryptError);
  assert.throws(() => cipher.decrypt(value.replace('rfe1.k1.', 'rfe1.k9.'), AAD), FieldDecryptError);
  assert.throws(() => new FieldCipher([{ id: 'k2', key: k2 }], 'k2').decrypt(value.replace('.k1.', '.k2.'), AAD), FieldDecryptError, 'another key under the same id');
});

test('rotation: the active key encrypts, every listed key decrypts', () => {
  const old = new FieldCipher([{ id: 'k1', key: k1 }], 'k1');
  const stored = old.encrypt('ann@example.com', AAD, 'randomized');
  const rotated = new FieldCipher([{ id: 'k2', key: k2 }, { id: 'k1', key: k1 }], 'k2');
  assert.equal(rotated.decrypt(stored, AAD), 'ann@example.com');
  assert.match(rotated.encrypt('x', AAD, 'randomized'), /^rfe1\.k2\./);
  assert.throws(() => new FieldCipher([{ id: 'k1', key: k1 }], 'k3'), /active key k3/);
});

test('key material: 64 hex digits or base64 of 32 bytes only', () => {
  assert.equal(fieldKeyBytes(k1.toString('hex'))?.equals(k1), true);
  assert.equal(fieldKeyBytes(k1.toString('base64'))?.equals(k1), true);
  assert.equal(fieldKeyBytes(k1.toString('base64url'))?.equals(k1), true);
  for (const bad of ['short', randomBytes(16).toString('base64'), randomBytes(33).toString('hex'), 'not base64 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!']) assert.equal(fieldKeyBytes(bad), undefined, bad);
  assert.equal(isFieldCiphertext('rfe1.k1.'), false);
});

test('marked fields: nested objects, arrays, maps, allOf; the marker is validated', () => {
  const schema = {
    type: 'object',
    properties: {
      email: { type: 'string', 'x-rampart-encrypt': true },
      ssn: { type: 'string', 'x-rampart-encrypt': { mode: 'deterministic', read_scopes: ['pii:admin'] } },
      contacts: { type: 'array', items: { type: 'object', properties: { phone: { type: 'string', 'x-rampart-encrypt': true } } } },
    },
    allOf: [{ properties: { notes: { type: 'string', 'x-rampart-encrypt': true } } }],
  };
  const fields = markedFields([schema], 'op');
  assert.deepEqual(fields.map((f) => [f.label, f.mode, f.readScopes]), [['email', 'randomized', undefined], ['ssn', 'deterministic', ['pii:admin']], ['contacts/*/phone', 'randomized', undefined], ['notes', 'randomized', undefined]]);
  assert.throws(() => markedFields([{ properties: { x: { 'x-rampart-encrypt': 'yes' } } }], 'op'), /x-rampart-encrypt on op x/);
  assert.throws(() => markedFields([{ properties: { x: { 'x-rampart-encrypt': { mode: 'ecb' } } } }], 'op'), /must be true or/);
});

test('rewriteAt reaches every element and leaves absent and null values alone', () => {
  const doc = { contacts: [{ phone: 'a' }, { phone: null }, {}], email: 'e', meta: { a: { phone: 'm' } } };
  rewriteAt(doc, ['contacts', EACH, 'phone'], (v) => `<${String(v)}>`);
  rewriteAt(doc, ['meta', EACH, 'phone'], (v) => `<${String(v)}>`);
  rewriteAt(doc, ['missing', 'x'], () => 'never');
  assert.deepEqual(doc, { contacts: [{ phone: '<a>' }, { phone: null }, {}], email: 'e', meta: { a: { phone: '<m>' } } });
});
