import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Key-encryption keys (KEKs) and the wrapping of data keys (DEKs) under them. AES-256-GCM from `node:crypto`
 * throughout: 96-bit random IV, 128-bit tag (enforced on decrypt, so a truncated tag never verifies), associated
 * data binding each wrapped DEK to its purpose, its id and the KEK id recorded beside it.
 */

/** Bytes of every key here (AES-256). */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** KEK and DEK ids: a label safe in logs, envelopes and SQL (no dots: the envelope separator). */
export const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * Decodes KEK material: 32 bytes as 64 hex digits or base64/base64url (43 or 44 characters). Anything else
 * (a passphrase, a short key) is refused: a KEK is random key material, never derived from something typed.
 */
export function parseKeyMaterial(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const url = value.replace(/=$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const bytes = Buffer.from(url, 'base64url');
    if (bytes.length === KEY_BYTES && bytes.toString('base64url') === url) return bytes;
  }
  return undefined;
}

/** A data key could not be unwrapped, or a KEK it needs is not configured. The message names the config path. */
export class KeyringError extends Error {
  /** The config path to fix (`store.encryption.keks`). */
  readonly path = 'store.encryption.keks';
  constructor(message: string, options?: ErrorOptions) {
    super(`store.encryption.keks: ${message}`, options);
    this.name = 'KeyringError';
  }
}

/** Seals `plaintext` under `key` with `aad`: base64url(iv ‖ tag ‖ ciphertext). */
export function seal(key: Buffer, aad: string, plaintext: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/**
 * Opens what `seal` produced. Returns undefined when the text is not canonical base64url, is shorter than an IV and
 * a tag, or does not authenticate under `key` and `aad` (tampered, truncated, another key, another place).
 */
export function unseal(key: Buffer, aad: string, sealed: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined;
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES || bytes.toString('base64url') !== sealed) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const dekAad = (purpose: string, dekId: string, kekId: string) => `rampart.dek.v1\u0000${purpose}\u0000${dekId}\u0000${kekId}`;

/**
 * The configured KEKs (by id) and the active one, which wraps new DEKs and is the target of `rotate-kek`. Other
 * KEKs are only read: they unwrap DEKs not yet re-wrapped. Key material never leaves this object except wrapped.
 */
export class Keyring {
  readonly activeId: string;
  readonly #keks: ReadonlyMap<string, Buffer>;

  /** @throws Error when an id is malformed or repeated, a key is not 32 bytes, or `activeId` is not among them. */
  constructor(keks: readonly { readonly id: string; readonly key: Buffer }[], activeId: string) {
    const map = new Map<string, Buffer>();
    for (const kek of keks) {
      if (!KEY_ID.test(kek.id)) throw new Error(`KEK id "${kek.id}" must match ${KEY_ID.source}`);
      if (map.has(kek.id)) throw new Error(`KEK id "${kek.id}" is listed twice`);
      if (kek.key.length !== KEY_BYTES) throw new Error(`KEK "${kek.id}" must be ${KEY_BYTES} bytes`);
      map.set(kek.id, Buffer.from(kek.key));
    }
    if (!map.has(activeId)) throw new Error(`the active KEK "${activeId}" is not among the configured KEKs`);
    this.activeId = activeId;
    this.#keks = map;
  }

  /** Configured KEK ids. */
  ids(): string[] {
    return [...this.#keks.keys()];
  }

  has(id: string): boolean {
    return this.#keks.has(id);
  }

  /** Wraps a DEK under the active KEK. */
  wrap(purpose: string, dekId: string, dek: Buffer): { readonly kekId: string; readonly wrapped: string } {
    const kekId = this.activeId;
    return { kekId, wrapped: seal(this.#keks.get(kekId)!, dekAad(purpose, dekId, kekId), dek) };
  }

  /**
   * Unwraps a DEK recorded as wrapped under `kekId`.
   * @throws KeyringError naming the DEK and KEK (never key material) when the KEK is not configured or the wrapped
   *   DEK does not authenticate (another key under that id, a tampered row, a row moved to another purpose).
   */
  unwrap(purpose: string, dekId: string, kekId: string, wrapped: string): Buffer {
    const kek = this.#keks.get(kekId);
    if (!kek) {
      throw new KeyringError(
        `data key ${dekId} (${purpose}) is wrapped under KEK "${kekId}", which is not configured. Add it back to store.encryption.keks, run \`rampart keys rotate-kek\`, and retire it only once no data key uses it`,
      );
    }
    const dek = unseal(kek, dekAad(purpose, dekId, kekId), wrapped);
    if (!dek || dek.length !== KEY_BYTES) {
      throw new KeyringError(`data key ${dekId} (${purpose}) does not unwrap under KEK "${kekId}": the key configured under that id is not the one that wrapped it, or the stored data key was altered`);
    }
    return dek;
  }
}
