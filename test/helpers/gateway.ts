import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { createLogger } from '../../src/log.ts';
import { Gateway } from '../../src/server/gateway.ts';
import { createSelfSignedCertificate } from '../../src/server/certificates.ts';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly dir: string;
  readonly configFile: string;
  /** `https://127.0.0.1:port` when TLS is on, else `http://127.0.0.1:port`. */
  readonly url: string;
  readonly adminUrl: string;
  /** Parsed JSON log lines captured so far. */
  readonly logs: Record<string, unknown>[];
  /** Raw log text captured so far. */
  rawLogs(): string;
  close(): Promise<void>;
}

let sharedCert: Promise<{ cert: string; key: string }> | undefined;
/** One self-signed localhost certificate for the whole test process (generating one costs a few ms). */
export function testCertificate(): Promise<{ cert: string; key: string }> {
  return (sharedCert ??= createSelfSignedCertificate());
}

/**
 * Starts a real gateway on ephemeral loopback ports from a config object (written as YAML to a temp dir, so the
 * real loader runs). `tls: true` adds an HTTPS listener with a generated certificate; otherwise a loopback
 * insecure HTTP listener. Logs are captured at debug level.
 */
export async function startGateway(config: Record<string, unknown>, options: { tls?: boolean; files?: Record<string, string>; env?: NodeJS.ProcessEnv } = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-test-'));
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content);
  const listen: Record<string, unknown> = { admin: { port: 0, host: '127.0.0.1' } };
  if (options.tls) {
    const pair = await testCertificate();
    writeFileSync(join(dir, 'tls.crt'), pair.cert);
    writeFileSync(join(dir, 'tls.key'), pair.key, { mode: 0o600 });
    listen['https'] = { port: 0, host: '127.0.0.1', cert: '${file:tls.crt}', key: '${file:tls.key}' };
  } else {
    listen['http'] = { port: 0, host: '127.0.0.1', insecure: true };
  }
  const full = { listen: { ...listen, ...((config['listen'] as object) ?? {}) }, ...config, logging: { level: 'debug', ...((config['logging'] as object) ?? {}) } };
  full.listen = { ...listen, ...((config['listen'] as object) ?? {}) };
  const configFile = join(dir, 'rampart.yaml');
  writeFileSync(configFile, stringify(full));
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const gateway = await Gateway.start({ configFile, logger, watchIntervalMs: 100, env: options.env ?? process.env });
  const a = gateway.addresses;
  const url = a.https !== undefined ? `https://127.0.0.1:${a.https}` : `http://127.0.0.1:${a.http}`;
  const logs: Record<string, unknown>[] = [];
  return {
    gateway,
    dir,
    configFile,
    url,
    adminUrl: `http://127.0.0.1:${a.admin}`,
    get logs() {
      logs.length = 0;
      for (const line of chunks.join('').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      return logs;
    },
    rawLogs: () => chunks.join(''),
    close: () => gateway.stop(2000),
  };
}
