/**
 * The fixed secrets and personal data the test suite hands to gateways (tokens, peppers, KEKs, webhook and
 * introspection secrets, upstream credentials, passwords, demo users): none of them may be in any store the suite
 * leaves behind (`npm test` scans them with scripts/store-scan.ts). Exported constants are imported; values local to a
 * test file are repeated here with their origin. Random values (markers, generated keys) are not listed: the shape
 * checks and the encrypted-column check of the scanner cover them, and the secrets Rampart generates beside a
 * database (pepper, KEK, audit keys) are read from their files at scan time. Not listed: the KEK of
 * test/adversarial/audit-writer-lifecycle.test.ts, `'ab'.repeat(32)`, which is also the key hash the store fixtures
 * import (test/pools-attacks.test.ts, src/store/contract.case.ts), so finding it in a store would prove nothing.
 */
import { DEMO_USERS } from '../../demo/users.ts';
import type { Secret } from '../../scripts/store-scan.ts';
import { ADMIN_TOKEN, READ_TOKEN, TEST_KEK } from './apikeys.ts';
import { APP_SECRET, APP_USERS } from './app-upstream.ts';

export const SUITE_SECRETS: readonly Secret[] = [
  { label: 'ADMIN_TOKEN (test/helpers/apikeys.ts)', value: ADMIN_TOKEN },
  { label: 'READ_TOKEN (test/helpers/apikeys.ts)', value: READ_TOKEN },
  { label: 'TEST_KEK (test/helpers/apikeys.ts)', value: TEST_KEK },
  { label: 'APP_SECRET (test/helpers/app-upstream.ts)', value: APP_SECRET },
  ...Object.entries(APP_USERS).map(([user, password]) => ({ label: `APP_USERS.${user} password (test/helpers/app-upstream.ts)`, value: password })),
  ...DEMO_USERS.flatMap((u) => [
    { label: `demo user ${u.username} password (demo/users.ts)`, value: u.password },
    { label: `demo user ${u.username} display name (demo/users.ts)`, value: u.displayName },
    { label: `demo user ${u.username} internal notes (demo/users.ts)`, value: u.internalNotes },
  ]),
  { label: 'login password (test/helpers/dashboard-stack.ts)', value: 'Winter2026!' },
  { label: 'T_PEPPER (test/encryption-at-rest.test.ts)', value: 'e'.repeat(48) },
  { label: 'T_ALERT webhook secret (test/encryption-at-rest.test.ts)', value: 'alert-secret' },
  { label: 'webhook SECRET (test/monitor-attacks.test.ts)', value: 'whsec-test-0123456789' },
  { label: 'T_PEPPER (test/authn-apikey-cluster.test.ts)', value: 'q'.repeat(48) },
  // 40 p's: also the 48 of test/message-signatures-store.test.ts and test/monitor-fanout.test.ts.
  { label: 'PEPPER (src/policies/authn-apikey/index.test.ts)', value: 'p'.repeat(40) },
  { label: 'pepper (test/authn-apikey.test.ts)', value: 'w'.repeat(32) },
  { label: 'PEPPER (test/pools-attacks.test.ts)', value: 'red-team-apply-pepper-'.padEnd(48, 'p') },
  { label: 'APPLY_PEPPER (test/cli-apply.test.ts)', value: 'apply-test-pepper-'.padEnd(48, 'p') },
  { label: 'INTROSPECT_SECRET (test/authn-introspection.test.ts, test/sender-constraint-attacks.test.ts)', value: 'introspect-secret' },
  { label: 'OTHER_APP_SECRET (test/upstream-credential.test.ts)', value: 'secret456' },
  { label: 'ALICE_UPSTREAM (test/upstream-credential.test.ts)', value: 'alice-static-credential' },
  { label: 'SECRET (src/policies/upstream-credential/attacks.test.ts)', value: 'k'.repeat(32) },
  { label: 'OTLP_AUTH (test/tracing.test.ts)', value: 'collector-secret' },
  { label: 'RAMPART_ADMIN_TOKEN (test/cli.test.ts)', value: 'not-a-token-'.padEnd(40, 'x') },
  { label: 'OPS_TOKEN (src/admin/dashboard/sessions.test.ts)', value: 'o'.repeat(40) },
  { label: 'RO_TOKEN (src/admin/dashboard/sessions.test.ts)', value: 'r'.repeat(40) },
  { label: 'FUZZ_ADMIN (src/config/load.fuzz.test.ts)', value: 'a'.repeat(40) },
  { label: 'SECRET (src/config/load.fuzz.test.ts)', value: 'fuzz-secret-value-0123456789abcdef' },
  { label: 'password (test/password-policy.test.ts, test/password-policy-attacks.test.ts)', value: 'qwertyuiop123' },
];
