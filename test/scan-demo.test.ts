/**
 * `rampart scan` against the demo: straight at the naive demo API it finds the demo's deliberate flaws, with
 * evidence; through Rampart (demo spec, ownership rules, a rate limit) none of the kinds Rampart blocks is
 * reported, and the gateway's logs show the probes reached the controls that stopped them. Both lists are pinned.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { DEMO_AUTHZ, startDemoStack, type DemoStack } from './helpers/demo-stack.ts';
import { startGateway } from './helpers/gateway.ts';
import { runScan, type ScanResult } from '../src/scan/run.ts';

const SPEC = fileURLToPath(new URL('../demo/openapi.yaml', import.meta.url));

/** What the scan finds on the naked demo API: every rule, exactly (a new false positive fails this too). */
const DIRECT_RULES = [
  'api1.bola-list', // alice's GET /orders and /accounts list carol's (tenant globex) objects; ?tenantId=globex too
  'api1.bola-read', // alice reads carol's ord-5 and acc-carol; ids enumerated around them
  'api2.alg-none', // the API decodes tokens without verifying them
  'api2.expired-token',
  'api2.key-confusion', // HS256 signed with the IdP's public key: accepted, like any decodable token
  'api2.login-no-lockout', // POST /auth/login answers 401 to every guess
  'api2.no-credential', // listAccounts, getOrder, … check no credential at all
  'api2.wrong-key',
  'api3.mass-assignment', // PATCH /users/me takes role/isAdmin/tenantId
  'api3.secret-exposure', // passwordHash, tenantSecret
  'api3.undeclared-fields', // internalNotes, passwordHash, tenantSecret
  'api4.huge-body', // POST /orders/search takes a 1 MiB item (maxLength 100): the naive API reads up to 16 MiB
  'api4.no-rate-limit',
  'api4.page-size', // limit=10000 on GET /orders
  'api5.admin-operation', // GET /admin/users as alice and carol
  'api8.banner', // X-Powered-By: DemoAPI
  'api8.missing-security-headers',
  'api8.path-traversal', // /ws/%2e%2e/health resolved
  'api8.verbose-errors', // the 404 lists routes and the Node version; a malformed body gets a stack trace
  'api10.nosql-injection', // POST /orders/search with {"item": {"$ne": null}} returns every order
  'api10.sql-injection', // GET /products?q=' breaks the SQL
];

/**
 * What Rampart in front stops: none of these may be reported through it. (SQL injection is blocked as an exploit,
 * but the lone quote still reaches the naive SQL and becomes a 502: that oracle is reported, see below.)
 */
const BLOCKED_BY_RAMPART = DIRECT_RULES.filter((r) => r !== 'api10.sql-injection');

/** The limit the api6.unthrottled-flow fix names for the demo's checkout flow (x-rampart-flow, 5/min). */
const CHECKOUT_LIMIT = { name: 'checkout-flow', key: 'consumer', algorithm: 'sliding_window', limit: '5/min', operations: ['createOrder'] };

let stack: DemoStack;
let dir: string;
let identityFiles: string[];
const tokens: string[] = [];
const env = { CAROL_PASSWORD: 'carol-pass' };

before(async () => {
  stack = await startDemoStack({
    ...DEMO_AUTHZ,
    rate_limits: [{ name: 'health-ip', key: 'ip', algorithm: 'fixed_window', limit: '10/min', operations: ['health'] }],
  });
  dir = mkdtempSync(join(tmpdir(), 'rampart-scan-demo-'));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  tokens.push(await stack.token('admin'), await stack.token('alice'));
  identityFiles = [
    // alice's file names the IdP's public keys (the JWKS), for the HS256-with-the-public-key probe.
    write('alice.yaml', `name: alice\nrole: user\npublic_key: \${file:idp-jwks.json}\ncredential:\n  bearer: \${file:alice.token}\n`),
    // carol logs in at the demo IdP with the OAuth 2 password grant; her password comes from the environment.
    write('carol.yaml', `name: carol\nrole: user\ncredential:\n  login:\n    url: ${stack.idp.url}/token\n    form:\n      grant_type: password\n      username: carol\n      password: "\${env:CAROL_PASSWORD}"\n    token: /access_token\n`),
    write('admin.yaml', `name: admin\nrole: admin\ncredential:\n  bearer: ${tokens[0]}\n`),
  ];
  write('alice.token', tokens[1]!);
  write('idp-jwks.json', await (await fetch(`${stack.idp.url}/jwks`)).text());
});
after(() => stack?.close());

const scan = (target: string): Promise<ScanResult> => runScan({ specFile: SPEC, target: new URL(target), identityFiles, rps: 200, maxRequests: 1500, env, insecureTls: target.startsWith('https:') });
const rulesOf = (result: ScanResult) => [...new Set(result.findings.map((f) => f.rule))].sort();

describe('against the naked demo API', () => {
  let result: ScanResult;
  before(async () => {
    result = await scan(stack.api.url);
  });

  test('every deliberate flaw the probes cover is found, and nothing else', () => {
    assert.deepEqual(result.errors, []);
    assert.equal(result.stoppedEarly, undefined);
    assert.deepEqual(rulesOf(result), [...DIRECT_RULES].sort());
  });

  test('BOLA: alice reads carol\'s order, with the owner\'s and the attacker\'s exchange as evidence', () => {
    const finding = result.findings.find((f) => f.rule === 'api1.bola-read' && f.operation === 'getOrder' && f.id.endsWith('alice->carol'));
    assert.ok(finding, JSON.stringify(result.findings.map((f) => f.id)));
    assert.equal(finding.category, 'API1:2023');
    assert.equal(finding.severity, 'high');
    const [owner, attacker] = finding.evidence;
    assert.match(owner?.request.url ?? '', /\/orders\/ord-[56]$/);
    assert.equal(attacker?.response.status, 200);
    assert.match(attacker?.response.body ?? '', /"ownerId":"u-carol"/);
    assert.equal(attacker?.request.headers['authorization'], 'Bearer ****');
    assert.match(finding.fix, /owner_rules/);
  });

  test('mass assignment is found on PATCH /users/me and the identity\'s profile is put back', async () => {
    const finding = result.findings.find((f) => f.rule === 'api3.mass-assignment');
    assert.equal(finding?.operation, 'updateMe');
    assert.match(finding?.detail ?? '', /role/);
    assert.match(finding?.detail ?? '', /isAdmin/);
    const me = (await (await fetch(`${stack.api.url}/users/me`, { headers: { authorization: `Bearer ${await stack.token('alice')}` } })).json()) as Record<string, unknown>;
    assert.equal(me['role'], 'user');
    assert.equal(me['isAdmin'], false);
    assert.equal(me['tenantId'], 'acme');
    assert.equal(me['username'], 'alice');
  });

  test('unverified tokens, the admin operation, SQL injection and verbose errors', () => {
    const byRule = (rule: string) => result.findings.filter((f) => f.rule === rule);
    assert.ok(byRule('api2.alg-none').some((f) => f.operation === 'getMe' && f.severity === 'critical'));
    assert.deepEqual(byRule('api5.admin-operation').map((f) => f.id).sort(), ['api5.admin-operation:adminListUsers:alice', 'api5.admin-operation:adminListUsers:carol']);
    const sqli = byRule('api10.sql-injection');
    assert.equal(sqli[0]?.operation, 'searchProducts');
    assert.equal(sqli[0]?.severity, 'critical');
    assert.match(sqli[0]?.evidence[0]?.response.body ?? '', /syntax error/);
    assert.ok(byRule('api8.verbose-errors').some((f) => /Node\.js|availableRoutes/.test(f.detail)));
    assert.ok(byRule('api8.verbose-errors').some((f) => f.operation === 'login' && /at readJson/.test(f.detail)));
    assert.match(byRule('api8.banner')[0]?.detail ?? '', /X-Powered-By: DemoAPI/);
  });

  test('API10 exactly where the demo is injectable: the free-text search body and the bracketed query parameters are probed, and not reported', () => {
    // searchOrders compares item exactly (in JS); GET /products ignores q[$ne] (so the [$eq] control widens as well).
    assert.deepEqual(result.findings.filter((f) => f.rule.startsWith('api10.')).map((f) => f.id).sort(), ['api10.nosql-injection:searchOrders:item', 'api10.sql-injection:searchProducts:q']);
    const planned = result.planned.filter((p) => p.rule.startsWith('api10.')).map((p) => `${p.rule} ${p.endpoint}`);
    for (const at of ['api10.sql-injection POST /orders/search body.item', 'api10.command-injection POST /orders/search body.item', 'api10.nosql-injection GET /products?q[$ne]=']) assert.ok(planned.includes(at), at);
    assert.ok(!result.planned.some((p) => p.rule.startsWith('api10.') && /^(PATCH|POST \/orders )/.test(p.endpoint)), 'the safe profile sends no payload to a create or an update');
  });

  test('BOLA by a body id: alice searches orders by carol\'s account and gets carol\'s orders', () => {
    const finding = result.findings.find((f) => f.id === 'api1.bola-list:searchOrders:alice->carol:body.accountId');
    assert.ok(finding, JSON.stringify(result.findings.filter((f) => f.rule === 'api1.bola-list').map((f) => f.id)));
    assert.match(finding.evidence[0]?.request.body ?? '', /"accountId":"acc-carol"/);
    assert.match(finding.evidence[0]?.response.body ?? '', /"ownerId":"u-carol"/);
    assert.ok(!result.findings.some((f) => f.rule === 'api1.bola-create'), 'the safe profile creates nothing on another identity\'s object');
  });

  test('the full profile: an order on another identity\'s account is accepted; nothing the scan did not create is deleted', async () => {
    const full = await runScan({ specFile: SPEC, target: new URL(stack.api.url), identityFiles, rps: 200, maxRequests: 1500, env, profile: 'full' });
    const created = full.findings.find((f) => f.id === 'api1.bola-create:createOrder:alice->carol:body.accountId');
    assert.equal(created?.evidence[0]?.response.status, 201);
    // The checkout flow (x-rampart-flow, 5/min) repeated 10 times: every order placed, none refused.
    const flow = full.findings.find((f) => f.rule === 'api6.unthrottled-flow');
    assert.equal(flow?.operation, 'createOrder');
    assert.match(flow?.detail ?? '', /"checkout" flow \(POST \/orders\) ran 10 times .* every answer 201, none 429 \(the spec allows 5\/min\)/);
    assert.match(flow?.fix ?? '', /rate_limits: \[ \{ name: checkout-flow, key: consumer, algorithm: sliding_window, limit: 5\/min, operations: \[ createOrder \] \} \]/);
    assert.ok(!result.planned.some((p) => p.rule === 'api6.unthrottled-flow'), 'the safe profile does not repeat a POST flow');
    assert.ok(full.planned.some((p) => p.endpoint === 'DELETE /admin/users/{userId}' && p.destructive));
    assert.ok(!full.findings.some((f) => f.operation === 'adminDeleteUser'), 'no user id of the scan\'s own to delete, so no DELETE was sent');
    const users = (await (await fetch(`${stack.api.url}/admin/users`, { headers: { authorization: `Bearer ${tokens[0]}` } })).json()) as { id: string }[];
    assert.deepEqual(users.map((u) => u.id).sort(), ['u-admin', 'u-alice', 'u-bob', 'u-carol']);
    // The injection payloads went into the create's and the update's free-text fields too: not injectable there
    // (prepared statements), and alice's display name was written back after each probe.
    assert.deepEqual(full.findings.filter((f) => f.rule.startsWith('api10.')).map((f) => f.id).sort(), ['api10.nosql-injection:searchOrders:item', 'api10.sql-injection:searchProducts:q']);
    assert.ok(full.planned.some((p) => p.rule === 'api10.sql-injection' && p.endpoint === 'PATCH /users/me body.displayName' && p.destructive));
    assert.ok(full.planned.some((p) => p.rule === 'api10.template-injection' && p.endpoint === 'POST /orders body.item' && p.destructive));
    const me = (await (await fetch(`${stack.api.url}/users/me`, { headers: { authorization: `Bearer ${tokens[1]}` } })).json()) as Record<string, unknown>;
    assert.equal(me['displayName'], 'Alice Anders');
  });

  test('evidence masks every token, the login password and password hashes', () => {
    const report = JSON.stringify(result);
    for (const token of tokens) assert.ok(!report.includes(token.split('.')[2]!), 'a token signature is in the report');
    assert.doesNotMatch(report, /eyJ[A-Za-z0-9_-]+\.eyJ/, 'a JWT (carol\'s from the login, or a forged one) is in the report');
    assert.ok(!report.includes('carol-pass'), 'the login password is in the report');
    assert.doesNotMatch(report, /scrypt\$\d/, 'a password hash is in the report');
    assert.doesNotMatch(report, /signing-secret-/, 'a tenant secret is in the report');
    assert.match(report, /"passwordHash\\?":\s*\\?"\*\*\*\*/);
  });
});

describe('through Rampart', () => {
  let result: ScanResult;
  let denials: Map<string, number>;
  before(async () => {
    result = await scan(stack.gateway.url);
    denials = new Map();
    for (const line of stack.gateway.logs) if (line['msg'] === 'request denied') denials.set(String(line['code']), (denials.get(String(line['code'])) ?? 0) + 1);
  });

  test('none of the kinds Rampart blocks is reported', () => {
    assert.deepEqual(result.errors, []);
    const reported = rulesOf(result).filter((r) => BLOCKED_BY_RAMPART.includes(r));
    assert.deepEqual(reported, [], JSON.stringify(result.findings.map((f) => `${f.id}: ${f.detail}`), null, 1));
  });

  test('the probes reached the controls that stopped them (not just an IP block)', () => {
    for (const code of ['not_found', 'insufficient_scope', 'validation_failed', 'injection_detected', 'invalid_path', 'method_not_allowed', 'invalid_token', 'account_locked', 'payload_too_large']) {
      assert.ok((denials.get(code) ?? 0) > 0, `no ${code} denial in the gateway log: ${JSON.stringify([...denials])}`);
    }
    assert.ok(result.learnt.objects >= 6, `discovery learnt ${result.learnt.objects} objects`);
    // The WAF blocked the payloads in the free-text search body as well as in the query.
    const waf = new Set(stack.gateway.logs.filter((l) => l['msg'] === 'WAF hit: request blocked').map((l) => `${String(l['operation'])} ${String(l['field'])}`));
    for (const at of ['searchProducts query/q', 'searchOrders body/item']) assert.ok(waf.has(at), `no WAF block at ${at}: ${JSON.stringify([...waf])}`);
  });

  test('the one finding left: a lone quote still breaks the naive SQL behind Rampart (502), the exploit is blocked', () => {
    assert.deepEqual(rulesOf(result), ['api10.sql-injection']);
    const [finding] = result.findings;
    assert.equal(finding?.operation, 'searchProducts');
    assert.equal(finding?.severity, 'high');
    assert.equal(finding?.evidence[0]?.response.status, 502);
    assert.match(finding?.detail ?? '', /boolean pair did not get through/);
  });
});

describe('through Rampart over HTTPS, --profile full', () => {
  // A fresh gateway: the first one has blocked the scanner's IP by now (incident response after the forged tokens).
  test('TLS 1.0/1.1 refused, HSTS sent, and with --profile full the owner lookup refuses orders on another identity\'s account and the checkout flow is throttled (weak suites refused too): the same single finding', async () => {
    const gateway = await startGateway(
      {
        upstreams: { demo: { url: stack.api.url } },
        apis: [{ name: 'demo', spec: './openapi.yaml', upstream: 'demo', auth: { jwt: { issuers: [{ issuer: stack.idp.issuer, jwks_url: `${stack.idp.url}/jwks`, audience: 'demo-api' }] }, api_keys: true }, ...DEMO_AUTHZ, rate_limits: [{ name: 'health-ip', key: 'ip', algorithm: 'fixed_window', limit: '10/min', operations: ['health'] }, CHECKOUT_LIMIT] }],
      },
      { tls: true, files: { 'openapi.yaml': readFileSync(SPEC, 'utf8') } },
    );
    try {
      assert.match(gateway.url, /^https:/);
      const result = await runScan({ specFile: SPEC, target: new URL(gateway.url), identityFiles, rps: 200, maxRequests: 1500, env, insecureTls: true, profile: 'full' });
      assert.deepEqual(result.errors, []);
      assert.deepEqual(rulesOf(result), ['api10.sql-injection'], JSON.stringify(result.findings.map((f) => f.detail)));
      assert.ok(result.planned.some((p) => p.rule === 'api8.legacy-tls'));
      assert.ok(result.planned.some((p) => p.rule === 'api8.weak-tls-ciphers'));
      assert.ok(result.planned.some((p) => p.rule === 'api6.unthrottled-flow' && p.operationId === 'createOrder'));
      assert.ok(gateway.logs.some((l) => l['msg'] === 'request denied' && l['code'] === 'rate_limited'), 'the checkout limit refused a repetition');
      assert.ok(result.planned.some((p) => p.rule === 'api1.bola-create' && p.identity === 'alice' && p.victim === 'carol'));
      assert.ok(result.learnt.objects >= 6, 'discovery ran before any block');
      const reasons = gateway.logs.filter((l) => l['msg'] === 'request denied').map((l) => String(l['reason']));
      assert.ok(reasons.some((r) => /^owner lookup getAccount \(createOrder x-rampart-owner-lookup\) denied/.test(r)), 'the owner lookup refused the order on another identity\'s account');
      // --profile full puts the injection payloads in the update's free-text field: the WAF blocks them. (Those in
      // the create's, createOrder, meet the checkout limit first: rate_limited, as asserted above.)
      const waf = new Set(gateway.logs.filter((l) => l['msg'] === 'WAF hit: request blocked').map((l) => `${String(l['operation'])} ${String(l['field'])}`));
      assert.ok(waf.has('updateMe body/displayName'), `no WAF block in the update: ${JSON.stringify([...waf])}`);
    } finally {
      await gateway.close();
    }
  });
});
