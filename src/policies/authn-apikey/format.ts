import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Readable prefix of every key Rampart issues (`rk` = Rampart key; `live` leaves room for `test` keys). */
export const KEY_PREFIX = 'rk_live';
const ID_LENGTH = 12;
const SECRET_LENGTH = 32;
const CRC_LENGTH = 6;
/** `rk_live_<id>_<secret><crc>`: a scanner can match this and check the CRC without asking Rampart. */
export const KEY_PATTERN = /^(rk_live)_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;
/** Longest string worth parsing; anything longer is rejected before any work. */
export const MAX_KEY_LENGTH = KEY_PREFIX.length + 2 + ID_LENGTH + SECRET_LENGTH + CRC_LENGTH;

export interface ParsedKey {
  readonly prefix: string;
  /** Public identifier: safe to log, used for the store lookup. */
  readonly id: string;
}

function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

/** CRC32 of the key body, as 6 base62 characters (62^6 > 2^32). A typo detector, not a security control. */
function checksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let i = 0; i < CRC_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** A new key identifier: 12 base62 characters (about 71 bits) from the CSPRNG. */
export function newKeyId(): string {
  return randomBase62(ID_LENGTH);
}

/**
 * Generates a new API key `rk_live_<id>_<secret><crc>` with a 32-character base62 secret (about 190 bits from
 * `crypto.randomInt`). The returned string is shown once and never stored.
 */
export function generateApiKey(id = newKeyId()): { readonly id: string; readonly key: string } {
  const body = `${KEY_PREFIX}_${id}_${randomBase62(SECRET_LENGTH)}`;
  return { id, key: body + checksum(body) };
}

/**
 * Parses a presented key: returns its prefix and id when the shape and the checksum are right, undefined otherwise
 * (typos and random strings are rejected here, before any store lookup).
 */
export function parseApiKey(value: string): ParsedKey | undefined {
  if (value.length !== MAX_KEY_LENGTH) return undefined;
  const match = KEY_PATTERN.exec(value);
  if (!match) return undefined;
  const body = value.slice(0, value.length - CRC_LENGTH);
  if (checksum(body) !== match[4]) return undefined;
  return { prefix: match[1]!, id: match[2]! };
}
