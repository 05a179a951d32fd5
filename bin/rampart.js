#!/usr/bin/env node
// Published builds run dist/; a source checkout runs the TypeScript directly (Node >= 22.18 strips types).
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
const built = existsSync(new URL('../dist/cli/main.js', import.meta.url));
// dist/ needs what package.json's engines say; the sources need type stripping (unflagged from 22.18).
const needed = built ? [22, 12] : [22, 18];
if (major < needed[0] || (major === needed[0] && minor < needed[1])) {
  process.stderr.write(
    `rampart: needs Node.js ${needed.join('.')} or newer${built ? '' : ' to run from a source checkout'}; this is ${process.version}.\n` +
      (built ? '' : 'In a checkout, `npm ci` installs Node 24 for the npm scripts: run `npm run rampart -- <command>` (or `npx rampart`).\n'),
  );
  process.exit(2);
}
const { main } = await import(built ? '../dist/cli/main.js' : '../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
