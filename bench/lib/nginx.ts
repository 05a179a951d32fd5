import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'];

function findNginx(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/**
 * Path of the nginx binary. When missing and `install` is set, installs the Debian package with apt-get (root
 * only). Returns `{ reason }` when nginx is not available, so the caller can say so plainly.
 */
export function ensureNginx(install: boolean): { path: string } | { reason: string } {
  const found = findNginx();
  if (found) return { path: found };
  if (!install) return { reason: 'nginx is not installed (run as root without --no-install, or `apt-get install -y nginx`)' };
  if (process.getuid?.() !== 0) return { reason: 'nginx is not installed and the harness is not root: run `sudo apt-get install -y nginx`' };
  try {
    process.stderr.write('installing nginx (apt-get install -y nginx)…\n');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'nginx'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (error) {
    return { reason: `apt-get install nginx failed: ${(error as Error).message}` };
  }
  const path = findNginx();
  return path ? { path } : { reason: 'apt-get reported success but no nginx binary was found' };
}

/** Same for wrk (the preferred load generator); undefined when unavailable. */
export function ensureWrk(install: boolean): string | undefined {
  const find = () => ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
  if (find() || !install || process.getuid?.() !== 0) return find();
  try {
    process.stderr.write('installing wrk (apt-get install -y wrk)…\n');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    return undefined;
  }
  return find();
}

/**
 * Writes an nginx config for a plain reverse proxy (upstream keep-alive, no access log) into a fresh temp
 * directory, and returns the arguments to run it in the foreground. The system nginx service is never touched.
 */
export function nginxArgs(port: number, upstreamPort: number, workers: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const conf = `
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream backend {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'];
}
