/**
 * The demo's secrets, generated once into demo/data/ (mode 0600) so demo/rampart.yaml can refer to them with
 * `${file:…}` like a real deployment would — no secret is ever written in the YAML.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** File names under the data directory, as demo/rampart.yaml names them. */
export const DEMO_SECRET_FILES = {
  adminToken: 'admin.token',
  identityKey: 'identity.pem',
  auditSigningKey: 'audit-signing.pem',
  auditIpKey: 'audit-ip.key',
  keyPepper: 'key-pepper',
  accountKey: 'account.key',
  storeKek: 'kek-demo-1',
} as const;

const randomSecret = () => randomBytes(32).toString('base64url');
const pkcs8 = (type: 'ec' | 'ed25519') =>
  (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

const GENERATORS: Record<keyof typeof DEMO_SECRET_FILES, () => string> = {
  adminToken: randomSecret,
  identityKey: () => pkcs8('ec'),
  auditSigningKey: () => pkcs8('ed25519'),
  auditIpKey: randomSecret,
  keyPepper: randomSecret,
  accountKey: randomSecret,
  storeKek: randomSecret,
};

/** Creates every missing secret file in `dir` (existing ones are kept). Returns the names it created. */
export function ensureDemoSecrets(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const created: string[] = [];
  for (const [id, name] of Object.entries(DEMO_SECRET_FILES) as [keyof typeof DEMO_SECRET_FILES, string][]) {
    const file = join(dir, name);
    if (existsSync(file)) continue;
    writeFileSync(file, GENERATORS[id](), { mode: 0o600, flag: 'wx' });
    created.push(name);
  }
  return created;
}
