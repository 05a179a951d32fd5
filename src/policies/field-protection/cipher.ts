import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** `randomized`: a fresh IV per value (default). `deterministic`: equal values give equal ciphertext (searchable; weaker). */
export type FieldMode = 'randomized' | 'deterministic';

const PREFIX: Record<FieldMode, string> = { randomized: 'rfe1', deterministic: 'rfd1' };
const ENVELOPE = /^(rfe1|rfd1)\.([A-Za-z0-9][A-Za-z0-9_-]{0,31})\.([A-Za-z0-9_-]{38,})$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface FieldKey {
  readonly enc: Buffer;
  readonly iv: Buffer;
}

/** A value could not be decrypted (wrong field, unknown key, tampered); never carries the value. */
export class FieldDecryptError extends Error {}

/** Whether a value is a field ciphertext (its shape; it says nothing about whether it decrypts). */
export function isFieldCiphertext(value: unknown): value is string {
  return typeof value === 'string' && ENVELOPE.test(value);
}

/**
 * AES-256-GCM field encryption (node:crypto). Each configured key yields two subkeys by HKDF-SHA-256: one encrypts,
 * one derives the IV of deterministic values (HMAC of the field and the plaintext: the synthetic-IV construction,
 * so equal values under one key and field encrypt alike and nothing else repeats an IV). The associated data names
 * the API and the field, so a ciphertext copied into another field does not decrypt. A value is its JSON text;
 * the stored form is `rfe1|rfd1.<key id>.<base64url(iv ‖ tag ‖ ciphertext)>`.
 */
export class FieldCipher {
  readonly #keys = new Map<string, FieldKey>();
  readonly #active: string;

  constructor(keys: readonly { readonly id: string; readonly key: Buffer }[], active: string) {
    for (const { id, key } of keys) {
      this.#keys.set(id, {
        enc: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'rampart field-protection encrypt', 32)),
        iv: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'rampart field-protection synthetic iv', 32)),
      });
    }
    if (!this.#keys.has(active)) throw new Error(`active key ${active} is not listed`);
    this.#active = active;
  }

  encrypt(value: unknown, aad: string, mode: FieldMode): string {
    const key = this.#keys.get(this.#active)!;
    const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
    const iv = mode === 'deterministic' ? createHmac('sha256', key.iv).update(aad).update('\0').update(plaintext).digest().subarray(0, IV_BYTES) : randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.enc, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `${PREFIX[mode]}.${this.#active}.${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
  }

  /** @throws FieldDecryptError when the value is not a ciphertext of this field under a listed key. */
  decrypt(value: string, aad: string): unknown {
    const match = ENVELOPE.exec(value);
    if (!match) throw new FieldDecryptError('not a field ciphertext');
    const key = this.#keys.get(match[2]!);
    if (!key) throw new FieldDecryptError(`unknown field key ${match[2]}`);
    const raw = Buffer.from(match[3]!, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES + 1) throw new FieldDecryptError('truncated field ciphertext');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.enc, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plaintext = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return JSON.parse(plaintext.toString('utf8'));
    } catch (error) {
      throw new FieldDecryptError('field ciphertext does not decrypt', { cause: error });
    }
  }
}

/** 32 bytes from 64 hex digits or base64(url), else undefined. */
export function fieldKeyBytes(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const bytes = Buffer.from(trimmed, /[-_]/.test(trimmed) ? 'base64url' : 'base64');
  return bytes.length === 32 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? bytes : undefined;
}
