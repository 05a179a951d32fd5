import { readFileSync } from 'node:fs';

/** The package version (package.json beside src/ and dist/). */
export const RAMPART_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
