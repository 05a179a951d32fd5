/**
 * `rampart check` (the real CLI in a child process) prints each operation's authorization: auth alternatives,
 * scopes, roles, CEL rules and ownership rule, and warns about operations anyone may call. A bad rule exits 2
 * naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

const SPEC = `openapi: 3.1.0
info: { title: shop, version: '1' }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    oidc: { type: openIdConnect, openIdConnectUrl: 'https://idp.example/.well-known/openid-configuration' }
security: [{ bearer: [orders:read] }, { oidc: [orders:read] }]
paths:
  /orders/{orderId}:
    get:
      operationId: getOrder
      parameters: [{ name: orderId, in: path, required: true, schema: { type: string } }]
      responses: { '200': { description: ok } }
  /admin/users:
    get:
      operationId: adminListUsers
      security: [{ bearer: [admin] }]
      x-rampart-roles: [admin]
      responses: { '200': { description: ok } }
  /health:
    get:
      operationId: health
      security: []
      responses: { '200': { description: ok } }
  /status:
    get:
      operationId: status
      security: []
      x-rampart-roles: [ops]
      responses: { '200': { description: ok } }
`;

function check(api: Record<string, unknown>, extraApis: Record<string, unknown>[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-check-'));
  writeFileSync(join(dir, 'shop.yaml'), SPEC);
  const config = {
    listen: { http: { port: 0, host: '127.0.0.1', insecure: true } },
    upstreams: { main: { url: 'http://127.0.0.1:9' } },
    apis: [
      { name: 'shop', spec: './shop.yaml', upstream: 'main', auth: { jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'shop', jwks_url: 'https://idp.example/jwks' }] } }, ...api },
      ...extraApis,
    ],
  };
  writeFileSync(join(dir, 'rampart.yaml'), stringify(config));
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'check', '-c', join(dir, 'rampart.yaml')], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('rampart check prints auth, scopes, roles, rules and ownership per operation and warns about open ones', async () => {
  const { code, stdout, stderr } = await check(
    { rules: { getOrder: 'identity.tenant == "acme"' }, owner_rules: { getOrder: 'response.body.ownerId == identity.subject' } },
    [{ name: 'legacy', upstream: 'main', passthrough: true, base_path: '/legacy' }],
  );
  assert.equal(code, 0, stderr);
  const rows = stdout.split('\n');
  const row = (operation: string) => rows.find((line) => line.startsWith('shop ') && line.split(/\s{2,}/)[1] === operation) ?? '';
  assert.match(rows.find((line) => /^API\s+OPERATION\s+AUTH\s+SCOPES\s+ROLES\s+RULES\s+OWNERSHIP/.test(line)) ?? '', /OWNERSHIP/);
  assert.deepEqual(row('getOrder').split(/\s{2,}/), ['shop', 'getOrder', 'bearer | oidc', 'orders:read', '-', 'identity.tenant == "acme"', 'response.body.ownerId == identity.subject']);
  assert.deepEqual(row('adminListUsers').split(/\s{2,}/), ['shop', 'adminListUsers', 'bearer', 'admin', 'admin', '-', '-']);
  assert.deepEqual(row('health').split(/\s{2,}/).slice(0, 3), ['shop', 'health', 'public']);
  assert.ok(rows.includes('warning: shop GET /health (health) has no authorization at all'), stdout);
  assert.ok(rows.some((line) => /^warning: legacy \S+ \* \(legacy:passthrough\) has no authorization at all$/.test(line)), stdout);
  assert.ok(!rows.some((line) => /warning: .*(getOrder|adminListUsers)/.test(line)), stdout);
  // Public, but roles restrict it (an anonymous caller has none): reported with its roles, not warned about.
  assert.deepEqual(row('status').split(/\s{2,}/).slice(0, 5), ['shop', 'status', 'public', '-', 'ops']);
  assert.ok(!rows.some((line) => /warning: .*\(status\)/.test(line)), stdout);
  assert.match(stdout, /config OK: \d+ routes/);
});

test('rampart check exits 2 naming a rule that does not compile', async () => {
  const { code, stderr } = await check({ rules: { getOrder: 'identity.tenant ==' } });
  assert.equal(code, 2);
  assert.match(stderr, /apis\[0\]\.rules\.getOrder: invalid CEL rule/);
});
