import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

/**
 * Reads a secret Rampart generated for itself (development keys, peppers), or creates it: written whole to a temp
 * file (0600) and hard-linked into place, which fails if the file exists. Several processes starting at once on one
 * data directory (`--workers`, a second instance) therefore all read the one complete file the first of them made:
 * never an empty or half-written one, and never a start-up failure on EEXIST.
 */
export function readOrCreateSecretFile(path: string, create: () => string): { value: string; created: boolean } {
  try {
    return { value: readFileSync(path, 'utf8'), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const value = create();
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, value, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, path);
    return { value, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { value: readFileSync(path, 'utf8'), created: false };
  } finally {
    unlinkSync(temp);
  }
}
