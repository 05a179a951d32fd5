/**
 * Precision: on a correctly protected API (test/helpers/protected-api.ts, no demo flaw) the scanner reports no
 * finding of medium or higher (none at all, in fact), while having exercised its probes (objects learnt, over a
 * hundred requests), over HTTP and HTTPS. The same API with one control removed (its /health rate limit, TLS 1.2 as
 * the minimum) is reported for exactly that, so the runs are not blind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProtectedApi, type ProtectedApi } from './helpers/protected-api.ts';
import { runScan } from '../src/scan/run.ts';
import { findingsAtOrAbove } from '../src/scan/severity.ts';
import { createSelfSignedCertificate } from '../src/server/certificates.ts';

const SPEC = fileURLToPath(new URL('./fixtures/protected-openapi.yaml', import.meta.url));
const apis: ProtectedApi[] = [];
after(() => Promise.all(apis.map((a) => a.close())));

async function identitiesFor(api: ProtectedApi): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-precision-'));
  const files: string[] = [];
  for (const [name, role] of [['ann', 'user'], ['ben', 'user'], ['root', 'admin']] as const) {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\nrole: ${role}\ncredential:\n  bearer: ${await api.token(name)}\n`);
    files.push(file);
  }
  return files;
}

let protectedApi: ProtectedApi;
before(async () => {
  protectedApi = await startProtectedApi();
  apis.push(protectedApi);
});

test('a correctly protected API gets no finding of medium or higher', async () => {
  const result = await runScan({ specFile: SPEC, target: new URL(protectedApi.url), identityFiles: await identitiesFor(protectedApi), rps: 200, maxRequests: 1500 });
  assert.deepEqual(result.errors, []);
  assert.equal(result.stoppedEarly, undefined);
  assert.deepEqual(findingsAtOrAbove(result.findings, 'medium').map((f) => `${f.id}: ${f.detail}`), []);
  assert.deepEqual(result.findings, [], 'nor any lower one');
  // Not vacuous: discovery found the identities' notes (and made one each), and every module sent its probes.
  assert.ok(result.learnt.objects >= 6, `learnt ${result.learnt.objects} objects`);
  assert.ok(result.requestsSent > 100, `sent ${result.requestsSent} requests`);
});

test('the same API without its rate limit is reported for that, and for nothing else', async () => {
  const unlimited = await startProtectedApi({ healthBurst: 1_000 });
  apis.push(unlimited);
  const result = await runScan({ specFile: SPEC, target: new URL(unlimited.url), identityFiles: await identitiesFor(unlimited), rps: 200, maxRequests: 1500 });
  assert.deepEqual(result.findings.map((f) => f.rule), ['api4.no-rate-limit']);
});

test('over HTTPS (TLS 1.2+, strong suites, HSTS) still nothing; the same API accepting TLS 1.0 is reported for exactly that', async () => {
  const pair = await createSelfSignedCertificate();
  // TLS 1.0 has no AEAD suite: a server that accepts it offers CBC suites on TLS 1.2 too, which is reported as well.
  for (const [minVersion, expected] of [[undefined, []], ['TLSv1', ['api8.legacy-tls', 'api8.weak-tls-ciphers']]] as const) {
    const api = await startProtectedApi({ tls: { ...pair, ...(minVersion ? { minVersion } : {}) } });
    apis.push(api);
    const result = await runScan({ specFile: SPEC, target: new URL(api.url), identityFiles: await identitiesFor(api), rps: 200, maxRequests: 1500, insecureTls: true });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.findings.map((f) => f.rule).sort(), expected, JSON.stringify(result.findings.map((f) => f.detail)));
  }
});
