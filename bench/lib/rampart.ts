import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { Gateway } from '../../src/server/gateway.ts';
import type { BenchIssuer } from './issuer.ts';

const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const BENCH_SPEC = join(BENCH_DIR, 'openapi.yaml');

/**
 * The admin API token the probes use to read /metrics: random per harness run, passed to every Rampart process
 * through the environment (config secrets are references only).
 */
const ADMIN_TOKEN_ENV = 'RAMPART_BENCH_ADMIN_TOKEN';
process.env[ADMIN_TOKEN_ENV] ??= randomBytes(32).toString('base64url');

/** A Rampart feature the full pipeline wants, how to switch it on in rampart.yaml, and how to prove it is on. */
export interface Feature {
  readonly name: string;
  /**
   * Adds the feature's settings to a config. `probe` mode uses settings that make the feature observable with a
   * few requests (e.g. a tiny rate limit); `bench` mode the same feature with limits the load never reaches.
   * Absent for features that are always on when the API has a spec.
   */
  readonly apply?: (config: BenchConfig, mode: 'probe' | 'bench', issuer: BenchIssuer) => void;
  /** Sends real requests to a gateway started with the feature; returns undefined when it works, else why not. */
  readonly probe: (gateway: ProbeTarget) => Promise<string | undefined>;
}

export interface ProbeTarget {
  /** Directory of the probe gateway's rampart.yaml (audit data lives under it). */
  readonly dir: string;
  readonly url: string;
  readonly adminUrl: string;
  readonly token: string;
}

export type BenchConfig = Record<string, unknown> & { apis: Record<string, unknown>[] };

const adminAuth = () => ({ authorization: `Bearer ${process.env[ADMIN_TOKEN_ENV]}` });

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const api = (config: BenchConfig) => config.apis[0]!;

/**
 * The features of the full pipeline, in stage order. Config shapes follow the rampart.yaml schema; a fragment the
 * schema rejects means the feature does not exist in src/ yet, and the harness reports it as missing.
 */
export const FEATURES: readonly Feature[] = [
  {
    name: 'jwt',
    apply: (config, _mode, issuer) => {
      api(config)['auth'] = { jwt: { issuers: [{ issuer: issuer.url, audience: issuer.audience, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] } };
    },
    probe: async (g) => {
      const anonymous = await get(`${g.url}/items/42`);
      if (anonymous.status !== 401) return `no token → ${anonymous.status}, expected 401`;
      const bad = await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token.slice(0, -4)}AAAA` });
      if (bad.status !== 401) return `bad signature → ${bad.status}, expected 401`;
      const ok = await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` });
      return ok.status === 200 ? undefined : `valid token → ${ok.status}, expected 200`;
    },
  },
  {
    name: 'rate_limit',
    apply: (config, mode) => {
      api(config)['rate_limits'] = [
        mode === 'probe'
          ? { name: 'bench', key: 'consumer', algorithm: 'token_bucket', rate: '1/min', burst: 8 }
          : { name: 'bench', key: 'consumer', algorithm: 'token_bucket', rate: '1000000/s', burst: 1000000 },
      ];
    },
    probe: async (g) => {
      const statuses: number[] = [];
      for (let i = 0; i < 15 && !statuses.includes(429); i++) {
        statuses.push((await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` })).status);
      }
      return statuses.includes(429) ? undefined : `15 requests over an 8-request burst → ${statuses.join(',')}, expected a 429`;
    },
  },
  {
    name: 'request_validation',
    probe: async (g) => {
      const bad = await get(`${g.url}/items/not-a-number`, { authorization: `Bearer ${g.token}` });
      return bad.status === 400 ? undefined : `path parameter against its pattern → ${bad.status}, expected 400`;
    },
  },
  {
    name: 'response_minimisation',
    probe: async (g) => {
      const res = await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` });
      if (res.status !== 200) return `valid request → ${res.status}`;
      return res.body.includes('internal_note') ? 'an undeclared response property (internal_note) reached the client' : undefined;
    },
  },
  {
    name: 'audit',
    apply: (config) => {
      // The product defaults: durability sync (group commit), every authenticated request recorded.
      // RAMPART_BENCH_AUDIT_DURABILITY (set by `--audit-durability`) measures the other setting.
      const durability = process.env['RAMPART_BENCH_AUDIT_DURABILITY'];
      config['audit'] = { enabled: true, ...(durability ? { durability } : {}) };
    },
    probe: async (g) => {
      const count = () => {
        const db = new DatabaseSync(join(g.dir, 'data', 'audit.db'), { readOnly: true });
        try {
          return Number((db.prepare('SELECT count(*) AS n FROM audit_records').get() as { n: number }).n);
        } finally {
          db.close();
        }
      };
      const before = count();
      await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` });
      await get(`${g.url}/items/42`);
      const after = count();
      return after > before ? undefined : `no audit record written (${before} → ${after})`;
    },
  },
  {
    // The signed identity assertion sent upstream (an ES256 signature per authenticated request). Not part of the
    // issue's "full pipeline"; measured on its own as rampart-full-identity.
    name: 'identity',
    apply: (config) => {
      config['identity'] = { enabled: true };
    },
    probe: async (g) => {
      const res = await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` });
      return res.headers.get('x-bench-saw-identity') === '1' ? undefined : 'the upstream received no x-rampart-identity header';
    },
  },
  {
    name: 'metrics',
    probe: async (g) => {
      const res = await get(`${g.url}/items/42`, { authorization: `Bearer ${g.token}` }).then(() => get(`${g.adminUrl}/metrics`, adminAuth()));
      return res.status === 200 && res.body.includes('rampart_') ? undefined : `admin /metrics → ${res.status}, no rampart_ series`;
    },
  },
];

/** The Rampart configurations the harness knows, by the features they require. */
export const RAMPART_CONFIGS = {
  /** Passthrough API (no spec): normalisation, header hygiene, security headers, access log. No policies. */
  'rampart-passthrough': { spec: false, features: [] as string[], all: false },
  /** The same passthrough API with bearer JWT required (ES256, keys from the issuer's JWKS). */
  'rampart-jwt': { spec: false, features: ['jwt'], all: false },
  /** A spec API with every feature of the full pipeline, on the product defaults. */
  'rampart-full': { spec: true, features: FEATURES.map((f) => f.name).filter((n) => n !== 'identity'), all: true },
  /** The full pipeline plus the signed identity assertion upstream (on by default in rampart.yaml). */
  'rampart-full-identity': { spec: true, features: FEATURES.map((f) => f.name), all: true },
} as const;

export type RampartConfigName = keyof typeof RAMPART_CONFIGS;

/** The rampart.yaml for a configuration, as an object. */
export function buildConfig(
  name: RampartConfigName,
  features: readonly string[],
  mode: 'probe' | 'bench',
  issuer: BenchIssuer,
  ports: { http: number; admin: number; upstream: number },
  accessLog = true,
): BenchConfig {
  const spec = RAMPART_CONFIGS[name].spec;
  const config: BenchConfig = {
    listen: { http: { port: ports.http, host: '127.0.0.1', insecure: true }, admin: { port: ports.admin, host: '127.0.0.1' } },
    upstreams: { bench: { url: `http://127.0.0.1:${ports.upstream}`, connections: 128, keep_alive_timeout_ms: 60000 } },
    apis: [spec ? { name: 'bench', upstream: 'bench', spec: BENCH_SPEC } : { name: 'bench', upstream: 'bench', passthrough: true }],
    limits: { keep_alive_timeout_ms: 65000 },
    logging: { level: 'info', access_log: accessLog },
    admin: { tokens: [{ name: 'bench', token: `\${env:${ADMIN_TOKEN_ENV}}`, role: 'read_only' }] },
    // Off unless the configuration asks for it (the identity feature): see FEATURES.
    identity: { enabled: false },
  };
  if (RAMPART_CONFIGS[name].all) {
    // Detectors run as shipped, but containment must not block the load generator's IP when the request-rate
    // detectors (rightly) see 10 000 req/s from one client as a spike.
    config['monitor'] = { respond: { block_ip_minutes: 0 } };
  } else {
    // Isolate what the configuration measures: the audit trail and the detectors are on by default.
    config['audit'] = { enabled: false };
    config['monitor'] = { enabled: false };
  }
  for (const feature of FEATURES) if (features.includes(feature.name)) feature.apply?.(config, mode, issuer);
  return config;
}

export function writeConfig(config: BenchConfig): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rampart-bench-cfg-')), 'rampart.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

export interface Resolved {
  /** Features switched on and proven by a probe. */
  readonly active: string[];
  /** Features the full pipeline wanted that do not exist in src/ (config rejected, or nothing to observe). */
  readonly missing: { name: string; why: string }[];
}

/**
 * Works out which features a configuration can have, and proves each with real requests against an in-process
 * gateway started in probe mode. Throws when a feature whose settings the schema accepts does not work (the
 * measurement would silently be of less than it claims), and when a configuration that requires a feature
 * (JWT-only) cannot have it.
 */
export async function resolveFeatures(name: RampartConfigName, issuer: BenchIssuer, upstreamPort: number): Promise<Resolved> {
  const wanted: readonly string[] = RAMPART_CONFIGS[name].features;
  const missing: { name: string; why: string }[] = [];
  const accepted: string[] = [];
  const ports = { http: 0, admin: 0, upstream: upstreamPort };
  for (const feature of FEATURES.filter((f) => wanted.includes(f.name))) {
    if (!feature.apply) {
      accepted.push(feature.name);
      continue;
    }
    try {
      loadConfigFile(writeConfig(buildConfig(name, [feature.name], 'probe', issuer, ports)), process.env);
      accepted.push(feature.name);
    } catch (error) {
      missing.push({ name: feature.name, why: `config rejected: ${firstLine(error)}` });
    }
  }
  const probeFile = writeConfig(buildConfig(name, accepted, 'probe', issuer, ports));
  const gateway = await Gateway.start({
    configFile: probeFile,
    logger: createLogger({ level: 'silent' }),
    watch: false,
  });
  const active: string[] = [];
  const broken: string[] = [];
  try {
    const a = gateway.addresses;
    const target = { dir: dirname(probeFile), url: `http://127.0.0.1:${a.http}`, adminUrl: `http://127.0.0.1:${a.admin}`, token: issuer.token };
    // Rate limiting goes last: once it has tripped, the probe gateway answers 429 to everything.
    const order = [...accepted].sort((x, y) => Number(x === 'rate_limit') - Number(y === 'rate_limit'));
    for (const featureName of order) {
      const feature = FEATURES.find((f) => f.name === featureName)!;
      const failure = await feature.probe(target).catch((error: unknown) => `probe failed: ${firstLine(error)}`);
      if (failure === undefined) active.push(feature.name);
      else if (feature.apply) broken.push(`${feature.name}: ${failure}`);
      else missing.push({ name: feature.name, why: failure });
    }
  } finally {
    await gateway.stop(500);
  }
  if (broken.length > 0) throw new Error(`${name}: configured features do not work, refusing to measure:\n  ${broken.join('\n  ')}`);
  if (!RAMPART_CONFIGS[name].all && missing.length > 0) {
    throw new Error(`${name} requires ${missing.map((m) => `${m.name} (${m.why})`).join(', ')}`);
  }
  return { active: FEATURES.map((f) => f.name).filter((n) => active.includes(n)), missing };
}

function firstLine(error: unknown): string {
  return String((error as Error).message ?? error).split('\n').slice(0, 2).join(' ');
}
