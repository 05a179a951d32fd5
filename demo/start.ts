/**
 * `npm start`: runs the demo API (127.0.0.1:3000), the demo IdP (127.0.0.1:3001) and Rampart in front of the API
 * with demo/rampart.yaml (HTTPS on 8443, HTTP→HTTPS redirect on 8080, admin on 127.0.0.1:8081). On first start it
 * generates the config's secrets under demo/data/ (admin token, signing keys, HMAC keys). Ctrl-C stops all three;
 * if one exits, the others are stopped too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { DEMO_SECRET_FILES, ensureDemoSecrets } from './secrets.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dataDir = join(root, 'demo', 'data');
const created = ensureDemoSecrets(dataDir);
if (created.length > 0) console.log(`demo: generated ${created.join(', ')} in ${relative(process.cwd(), dataDir) || '.'} (mode 0600; demo/rampart.yaml refers to them with \${file:…})`);
const adminTokenFile = relative(process.cwd(), join(dataDir, DEMO_SECRET_FILES.adminToken));

const children: ChildProcess[] = [];
let stopping = false;

function run(name: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`demo: ${name} exited (${signal ?? code}); stopping the others`);
      stop(code ?? 1);
    }
  });
  children.push(child);
  return child;
}

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}

async function waitFor(url: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up within ${timeoutMs} ms`);
}

process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));

run('demo API', ['demo/api/server.ts']);
run('demo IdP', ['demo/idp/server.ts']);
await waitFor('http://127.0.0.1:3000/health');
await waitFor('http://127.0.0.1:3001/.well-known/openid-configuration');
run('rampart', ['src/cli/main.ts', 'start', '-c', 'demo/rampart.yaml']);
await waitFor('http://127.0.0.1:8081/readyz');
console.log(`
  Rampart demo is up.
    through Rampart:   https://localhost:8443   (self-signed certificate: use curl -k)
    the naked API:     http://127.0.0.1:3000    (for the before/after tour — never expose it)
    demo IdP:          http://127.0.0.1:3001
    admin listener:    http://127.0.0.1:8081   (admin API token: ${adminTokenFile})
                       export RAMPART_ADMIN_TOKEN=$(cat ${adminTokenFile})
  See README.md for the tour. Ctrl-C stops everything.
`);
