import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:dashboard` (Vite) writes the dashboard, relative to the package root. */
export const DASHBOARD_BUILD_DIR = join('dist', 'dashboard');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/** One built file, held in memory. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Vite names everything under assets/ by content hash: cached for a year; index.html never. */
  readonly immutable: boolean;
}

/** The package root: the nearest directory above this module holding Rampart's package.json (src/ and dist/ alike). */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'rampart') return dir;
    if (dirname(dir) === dir) throw new Error('rampart package.json not found above the admin module');
  }
}

/**
 * Loads the built dashboard into memory, keyed by URL path under `/dashboard/` (`index.html`, `assets/…`). Only
 * files that exist at start are served, so no request path ever reaches the file system. Undefined when the
 * dashboard was not built.
 */
export function loadAssets(dir: string = join(packageRoot(), DASHBOARD_BUILD_DIR)): Map<string, Asset> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const assets = new Map<string, Asset>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const key = relative(dir, path).split(sep).join('/');
        const type = TYPES[extname(name)];
        if (type) assets.set(key, { body: readFileSync(path), type, immutable: key.startsWith('assets/') });
      }
    }
  };
  walk(dir);
  return assets;
}

/**
 * Headers of every dashboard file: a CSP that allows only this origin's scripts and styles (no inline script, no
 * eval, no other origin to fetch from or post to), no framing, no referrer, no sniffing.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};
