import { targetsOf } from './balancer/schema.ts';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { ConfigIssue } from '../config/errors.ts';
import type { RampartConfig, UpstreamTlsConfig } from '../config/types.ts';

export type { UpstreamTlsConfig } from '../config/types.ts';

/** What the upstream pool's connector gets: file contents plus the verification settings. */
export interface UpstreamTlsMaterial {
  /** One PEM certificate per entry. */
  readonly ca?: string[];
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly servername?: string;
}

/** A problem with one of the files, naming the setting (`ca`, `cert`, `key`) it came from. */
export class UpstreamTlsError extends Error {
  readonly field: 'ca' | 'cert' | 'key';
  constructor(field: 'ca' | 'cert' | 'key', message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamTlsError';
    this.field = field;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Splits a PEM bundle into its certificates, checking that there is at least one and that each parses (node:crypto
 * does the parsing). OpenSSL silently ignores a CA bundle it cannot read, and given one Buffer of concatenated
 * certificates a secure context may take only the first: the array this returns is what `ca` options get.
 * @throws Error describing the problem (never the file content).
 */
export function splitCertificateBundle(pem: Buffer): string[] {
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('holds no PEM certificate');
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`certificate ${i + 1} does not parse`, { cause: error });
    }
  });
  return blocks.map((b) => `${b}\n`);
}

function readField(field: 'ca' | 'cert' | 'key', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UpstreamTlsError(field, `cannot read file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
}

/**
 * Reads and checks an upstream's TLS files: the CA bundle parses, the client certificate parses and matches its key.
 * @throws UpstreamTlsError naming the field at fault.
 */
export function readUpstreamTls(config: UpstreamTlsConfig): UpstreamTlsMaterial {
  const caFile = config.ca === undefined ? undefined : readField('ca', config.ca);
  const cert = config.cert === undefined ? undefined : readField('cert', config.cert);
  const key = config.key === undefined ? undefined : readField('key', config.key);
  let ca: string[] | undefined;
  if (caFile) {
    try {
      ca = splitCertificateBundle(caFile);
    } catch (error) {
      throw new UpstreamTlsError('ca', `CA bundle ${(error as Error).message}`, { cause: error });
    }
  }
  if (cert) {
    try {
      splitCertificateBundle(cert);
    } catch (error) {
      throw new UpstreamTlsError('cert', `client certificate ${(error as Error).message}`, { cause: error });
    }
  }
  if (cert && key) {
    try {
      createSecureContext({ cert, key }); // throws on an unreadable key or a key that does not match the certificate
    } catch (error) {
      throw new UpstreamTlsError('key', `private key unusable or not the key of cert (${(error as { code?: string }).code ?? 'error'})`, { cause: error });
    }
  }
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(config.servername ? { servername: config.servername } : {}),
  };
}

/** Files of an upstream's TLS settings, for change watching. */
export function upstreamTlsFiles(config: UpstreamTlsConfig): string[] {
  return [config.ca, config.cert, config.key].filter((f): f is string => f !== undefined);
}

/** Start-up and reload checks: `tls` only on https upstreams, and every file readable and usable. */
export function checkUpstreamTls(config: RampartConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    if (!upstream.tls) continue;
    const at = `upstreams.${name}.tls`;
    if (!targetsOf(upstream).every((t) => t.url.startsWith('https://'))) {
      issues.push({ path: at, message: 'is set but the upstream url is not https://', hint: `use https:// for upstreams.${name} or remove tls` });
      continue;
    }
    try {
      readUpstreamTls(upstream.tls);
    } catch (error) {
      if (!(error instanceof UpstreamTlsError)) throw error;
      issues.push({ path: `${at}.${error.field}`, message: error.message, hint: 'point it at a readable PEM file (key and cert must belong together)' });
    }
  }
  return issues;
}
