/**
 * The peer for `npm run waf:score -- --peer`: nginx with libmodsecurity 3 and the OWASP Core Rule Set, from Debian's
 * packages (`nginx-light`, `libnginx-mod-http-modsecurity`, `modsecurity-crs`; installed with apt-get when missing
 * and the process may), configured in a temporary directory as a reverse proxy in front of the same upstream: one
 * listener per paranoia level, blocking mode, anomaly scoring with the CRS defaults (inbound threshold 5).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/ports.ts';

const MODULE = '/usr/lib/nginx/modules/ngx_http_modsecurity_module.so';
const CRS_SETUP = '/etc/modsecurity/crs/crs-setup.conf';
const CRS_RULES = '/usr/share/modsecurity-crs/rules';
const PACKAGES = ['nginx-light', 'libnginx-mod-http-modsecurity', 'modsecurity-crs'];

export interface Peer {
  /** Base URL of the listener running CRS at `paranoia`. */
  url(paranoia: number): string;
  readonly version: string;
  close(): Promise<void>;
}

function installed(): boolean {
  return existsSync('/usr/sbin/nginx') && existsSync(MODULE) && existsSync(CRS_SETUP) && existsSync(CRS_RULES);
}

/** Starts nginx + ModSecurity + CRS in front of `upstream`, one listener per level in `levels`. */
export async function startPeer(upstream: string, levels: readonly number[]): Promise<Peer> {
  if (!installed()) {
    console.error(`waf:score: installing the peer (${PACKAGES.join(' ')}) with apt-get`);
    const apt = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (apt.status !== 0 || !installed()) throw new Error(`could not install ${PACKAGES.join(', ')} (apt-get exit ${apt.status}); run as root or install them yourself`);
    // The package starts a system nginx on port 80; the peer runs its own.
    spawnSync('nginx', ['-s', 'stop']);
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-waf-peer-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const ports: Record<number, number> = {};
  const servers: string[] = [];
  for (const level of levels) {
    const port = await freePort();
    ports[level] = port;
    const rules = join(dir, `modsec-p${level}.conf`);
    writeFileSync(
      rules,
      [
        'SecRuleEngine On',
        'SecRequestBodyAccess On',
        'SecRequestBodyLimit 13107200',
        'SecRequestBodyNoFilesLimit 1048576',
        'SecRequestBodyLimitAction Reject',
        'SecRule REQUEST_HEADERS:Content-Type "@rx (?:application(?:/soap\\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"',
        'SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"',
        'SecResponseBodyAccess Off',
        'SecAuditEngine Off',
        `SecDebugLogLevel 0`,
        `Include ${CRS_SETUP}`,
        `SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.blocking_paranoia_level=${level},setvar:tx.paranoia_level=${level}"`,
        `Include ${CRS_RULES}/*.conf`,
        '',
      ].join('\n'),
    );
    servers.push(`  server {
    listen 127.0.0.1:${port};
    modsecurity on;
    modsecurity_rules_file ${rules};
    location / { proxy_pass ${upstream}; }
  }`);
  }
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module ${MODULE};
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  client_max_body_size 16m;
  large_client_header_buffers 4 64k;
${servers.join('\n')}
}
`,
  );
  const version = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim();
  const child: ChildProcess = spawn('nginx', ['-c', conf, '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const first = levels[0]!;
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${ports[first]}/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch (error) {
      if (i >= 100 || child.exitCode !== null) throw new Error(`nginx + ModSecurity did not start (see ${dir}/error.log)`, { cause: error });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: (level) => `http://127.0.0.1:${ports[level]}`,
    version: `${version}, libmodsecurity 3 + OWASP CRS (${CRS_RULES})`,
    close: async () => {
      child.kill('SIGQUIT');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
