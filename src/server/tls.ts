import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { HttpsListenerConfig } from '../config/types.ts';
import { splitCertificateBundle } from '../proxy/upstream-tls.ts';

/**
 * TLS 1.2 cipher suites allowed: ECDHE key exchange with AEAD only (forward secrecy, no CBC, no RSA key
 * exchange). TLS 1.3 suites are all strong and stay at Node's defaults.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
const TLS13_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/**
 * Reads the certificate, key and client CA files and builds secure-context options. Throws if they are unreadable,
 * the key does not match, or the client CA bundle holds no parsable certificate.
 */
export function readTlsMaterial(config: HttpsListenerConfig): SecureContextOptions {
  let ca: string[] | undefined;
  if (config.client_ca) {
    try {
      ca = splitCertificateBundle(readFileSync(config.client_ca));
    } catch (error) {
      throw new Error(`listen.https.client_ca: ${config.client_ca} ${(error as Error).message}`, { cause: error });
    }
  }
  const options: SecureContextOptions = {
    cert: readFileSync(config.cert),
    key: readFileSync(config.key),
    minVersion: config.min_version,
    ciphers: `${TLS13_CIPHERS}:${TLS12_CIPHERS}`,
    honorCipherOrder: true,
    // mTLS: ask for a client certificate but let the handshake through; the mtls authenticator checks it per route.
    ...(ca ? { ca, requestCert: true, rejectUnauthorized: false } : {}),
  };
  createSecureContext(options); // throws on a key/cert mismatch before anything uses it
  return options;
}

/**
 * Polls the listener's certificate, key and client CA files (stat polling survives the rename-into-place that
 * cert tools do) and calls `onChange` with fresh material when they change. Material that fails to load is
 * reported and not applied.
 */
export function watchTlsFiles(
  config: HttpsListenerConfig,
  onChange: (options: SecureContextOptions) => void,
  onError: (error: Error) => void,
  intervalMs = 2000,
): () => void {
  const files = [config.cert, config.key, ...(config.client_ca ? [config.client_ca] : [])];
  return watchMaterial(files, () => readTlsMaterial(config), onChange, onError, intervalMs);
}

/**
 * Polls `files` and, 200 ms after the last change seen, calls `read` and hands its result to `onChange` (or its
 * error to `onError`). Shared by the listener and the upstream pools. Returns a function that stops watching.
 */
export function watchMaterial<T>(
  files: readonly string[],
  read: () => T,
  onChange: (material: T) => void,
  onError: (error: Error) => void,
  intervalMs = 2000,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    clearTimeout(timer);
    // Cert and key are usually replaced one after the other: wait until both have landed.
    timer = setTimeout(() => {
      let material: T;
      try {
        material = read();
      } catch (error) {
        onError(error as Error);
        return;
      }
      onChange(material);
    }, 200);
  };
  const listener = (current: { mtimeMs: number }, previous: { mtimeMs: number }) => {
    if (current.mtimeMs !== previous.mtimeMs) reload();
  };
  const unique = [...new Set(files)];
  for (const file of unique) watchFile(file, { interval: intervalMs, persistent: false }, listener);
  return () => {
    clearTimeout(timer);
    for (const file of unique) unwatchFile(file, listener);
  };
}
