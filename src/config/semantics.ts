import { isIP } from 'node:net';
import { isLoopbackHost } from '../http/hosts.ts';
import type { ConfigIssue } from './errors.ts';
import type { CorsConfig, RampartConfig } from './types.ts';
import { checkStoreConfig } from '../store/schema.ts';
import { checkTracingConfig } from '../tracing/schema.ts';
import { checkUpstreamTargets } from '../proxy/balancer/schema.ts';


/** Checks the schema cannot express: cross-references, unsafe combinations. Returns every issue found. */
export function checkConfigSemantics(config: RampartConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [...checkStoreConfig(config.store, config.audit?.enabled === false ? undefined : config.audit?.store?.kind), ...checkTracingConfig(config.tracing)];
  if (config.store?.kind === 'postgres' && config.auth_keys?.pepper === undefined) {
    issues.push({ path: 'auth_keys.pepper', message: 'is required with store.kind postgres (every instance must share it)', hint: 'set pepper: ${env:RAMPART_KEY_PEPPER}' });
  }
  const { listen } = config;
  if (!listen.https && !listen.http) {
    issues.push({ path: 'listen', message: 'no listener configured', hint: 'add listen.https (or listen.http with insecure: true for loopback development)' });
  }
  if (listen.http?.insecure && !isLoopbackHost(listen.http.host)) {
    issues.push({ path: 'listen.http.insecure', message: 'plain HTTP serving is allowed on loopback only', hint: 'set listen.http.host to 127.0.0.1 or use listen.https' });
  }
  if (listen.http && !listen.http.insecure && !listen.https) {
    issues.push({ path: 'listen.http', message: 'redirects to HTTPS but no HTTPS listener is configured', hint: 'add listen.https or set listen.http.insecure: true on loopback' });
  }
  config.trusted_proxies.forEach((entry, i) => {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (bits !== undefined && (Number(bits) > max || Number(bits) < 0))) {
      issues.push({ path: `trusted_proxies[${i}]`, message: 'is not an IP address or CIDR', hint: 'use e.g. 10.0.0.0/8 or 127.0.0.1' });
    }
  });
  for (const [name, upstream] of Object.entries(config.upstreams)) issues.push(...checkUpstreamTargets(name, upstream));
  const names = new Set<string>();
  const prefixes = new Set<string>();
  config.apis.forEach((api, i) => {
    const at = `apis[${i}]`;
    if (names.has(api.name)) issues.push({ path: `${at}.name`, message: `duplicate API name "${api.name}"`, hint: 'give each API its own name' });
    names.add(api.name);
    if (prefixes.has(api.base_path)) issues.push({ path: `${at}.base_path`, message: `another API already uses base path ${api.base_path}`, hint: 'give each API its own base_path' });
    prefixes.add(api.base_path);
    if (!(api.upstream in config.upstreams)) {
      issues.push({ path: `${at}.upstream`, message: `unknown upstream "${api.upstream}"`, hint: `define it under upstreams or use one of: ${Object.keys(config.upstreams).join(', ')}` });
    }
    if (!api.spec && !api.passthrough) {
      issues.push({ path: `${at}.spec`, message: 'an API needs an OpenAPI spec', hint: 'set spec, or passthrough: true to forward everything without a contract' });
    }
    if (api.cors) checkCors(api.cors, `${at}.cors`, issues);
    for (const [id, op] of Object.entries(api.operations)) if (op.cors) checkCors(op.cors, `${at}.operations.${id}.cors`, issues);
  });
  return issues;
}

function checkCors(cors: CorsConfig, path: string, issues: ConfigIssue[]): void {
  if (cors.allow_credentials && cors.allow_origins.includes('*')) {
    issues.push({ path: `${path}.allow_origins`, message: '"*" cannot be combined with allow_credentials', hint: 'list the exact origins' });
  }
}
