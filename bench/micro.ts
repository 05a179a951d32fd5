/**
 * Micro-benchmarks of the hot stages (mitata): route match, JWT verification with a cached key (and with the
 * verified-token cache), API key check, limiter decision, and every request/response policy the full benchmark
 * configuration compiles (request validation, response minimisation, …). Stages not in src/ yet are listed as
 * skipped. Prints mitata's report, then a markdown summary; `--write` also puts the summary into
 * docs/benchmarks.md (between the micro markers). Usage: node bench/micro.ts [--filter REGEX] [--write] [--colors]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bench, do_not_optimize, run, summary } from 'mitata';
import { createLogger } from '../src/log.ts';
import { outcomeOf, RequestContext, type ServerRequest, type ServerResponseLike } from '../src/pipeline/types.ts';
import { Gateway } from '../src/server/gateway.ts';
import { startIssuer } from './lib/issuer.ts';
import { ITEM } from './lib/item.ts';
import { describeMachine } from './lib/machine.ts';
import { buildConfig, FEATURES, writeConfig } from './lib/rampart.ts';

const MICRO_START = '<!-- bench:micro:start -->';
const MICRO_END = '<!-- bench:micro:end -->';
const { values } = parseArgs({ options: { filter: { type: 'string' }, colors: { type: 'boolean' }, write: { type: 'boolean', default: false } } });
const skipped: string[] = [];
const skip = (what: string, why: unknown) => skipped.push(`${what}: ${String((why as Error)?.message ?? why).split('\n')[0]}`);

const issuer = await startIssuer();
const authorization = `Bearer ${issuer.token}`;

function fakeRequest(method: string, url: string, headers: Record<string, string>): ServerRequest {
  return { method, url, headers, httpVersion: '1.1', socket: { remoteAddress: '127.0.0.1' } } as unknown as ServerRequest;
}
const fakeResponse = { statusCode: 200, headersSent: false, writableFinished: false, once() {}, on() {}, off() {} } as unknown as ServerResponseLike;
const context = (method = 'GET', url = '/items/42') =>
  new RequestContext(fakeRequest(method, url, { host: 'bench', authorization }), fakeResponse, 'bench-request-0001', '127.0.0.1', false);

// The full benchmark configuration, compiled by a real in-process gateway: its route table and policies are
// exactly what the data plane runs.
let gateway: Gateway | undefined;
try {
  const features = FEATURES.map((f) => f.name);
  gateway = await Gateway.start({
    configFile: writeConfig(buildConfig('rampart-full', features, 'bench', issuer, { http: 0, admin: 0, upstream: 9 })),
    logger: createLogger({ level: 'silent' }),
    watch: false,
  });
} catch (error) {
  skip('full configuration (policies)', error);
}

if (gateway) {
  const table = gateway.table;
  summary(() => {
    bench('route match GET /items/{id}', () => do_not_optimize(table.match('GET', '/items/42')));
    bench('route match → 404', () => do_not_optimize(table.match('GET', '/nope/42')));
  });
  const match = table.match('GET', '/items/42');
  if (match.kind === 'found') {
    for (const policy of match.route.policies) {
      // Each benchmark runs the route's stages up to and including this one (later stages need what earlier set).
      bench(`request stages through ${policy.name} (${policy.stage})`, async () => {
        const ctx = context();
        ctx.route = match.route;
        ctx.params = match.params;
        // Earlier stages first, as in the pipeline (authenticate sets the identity later stages use).
        for (const p of match.route.policies) {
          if (p === policy) break;
          await p.run(ctx);
        }
        await policy.run(ctx);
      });
    }
    const body = Buffer.from(JSON.stringify(ITEM));
    for (const policy of match.route.responsePolicies) {
      bench(`response policy ${policy.name}`, async () => {
        const ctx = context();
        ctx.route = match.route;
        await policy.run(ctx, { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) });
      });
    }
    if (match.route.responsePolicies.length === 0) skip('response minimisation', 'no response policy compiled for GET /items/{id}');
    const stages = new Set(match.route.policies.map((p) => p.stage));
    for (const stage of ['authenticate', 'post_auth_rate_limit', 'validate'] as const) {
      if (!stages.has(stage) && !(stage === 'post_auth_rate_limit' && stages.has('pre_auth_rate_limit'))) skip(`stage ${stage}`, 'no policy compiled');
    }
  }
}

// The WAF stage on a POST with a JSON body: a typical ~1 KiB review (five free-text fields) and a worst case (a
// 96 KiB free-text field dense in quotes, markup, escapes and SQL words: every decoder and detector has work). Each
// case is timed through validate (which parses the body) and through waf; the difference is the WAF's cost.
if (gateway) {
  const { Readable } = await import('node:stream');
  const review = gateway.table.match('POST', '/items/42/reviews');
  const typical = JSON.stringify({
    title: 'Solid little widget, but the manual could be clearer',
    body: "I ordered two of these for the workshop. Setup took ten minutes; the instructions say to 'select the union nut' first, which confused me (it's the brass one). After a week of daily use it still works as on day one. Battery life is about 3 days, less in the cold. Customer service answered within a day and sent a replacement clip. Would I buy it again? Yes, probably. Four stars because the case scratches easily & the strap feels cheap. Tip: drop the <small> adapter, it isn't needed.",
    author: "Sean O'Neill",
    location: 'Cork, Ireland — near the harbour',
    pros: 'Cheap, sturdy; works with 1/2" and 3/8" fittings; 30% lighter than the old one',
    rating: 4,
    email: 'sean@example.com',
    language: 'en',
  });
  const unit = `O'Brien said "<b>select</b> from the menu" &amp; 50% off -- union rates /* not */ \u0027 %27 &#39; \${name} `;
  const worst = JSON.stringify({ title: 'worst case', body: unit.repeat(Math.floor((96 * 1024) / unit.length)) });
  if (review.kind === 'found') {
    const through = (stage: string) => {
      const at = review.route.policies.findIndex((p) => p.stage === stage);
      return at < 0 ? undefined : review.route.policies.slice(0, at + 1);
    };
    const validateStages = through('validate');
    const wafStages = through('waf');
    if (!validateStages || !wafStages) skip('WAF stage', 'no validate or waf stage compiled for POST /items/{id}/reviews');
    else {
      for (const [name, body] of [['1 KiB review, 5 free-text fields', typical], ['96 KiB adversarial free text', worst]] as const) {
        const buffer = Buffer.from(body);
        const post = () => {
          const req = Object.assign(Readable.from([buffer]), {
            method: 'POST',
            url: '/items/42/reviews',
            headers: { host: 'bench', authorization, 'content-type': 'application/json', 'content-length': String(buffer.length) },
            httpVersion: '1.1',
            socket: { remoteAddress: '127.0.0.1' },
          });
          const ctx = new RequestContext(req as unknown as ServerRequest, fakeResponse, 'bench-request-0002', '127.0.0.1', false);
          ctx.route = review.route;
          ctx.params = review.params;
          return ctx;
        };
        // Fail loudly if the benign review would be refused: the benchmark must time the pass path.
        const probe = post();
        for (const p of wafStages) await p.run(probe);
        summary(() => {
          bench(`POST ${name}: stages through validate`, async () => {
            const ctx = post();
            for (const p of validateStages) await p.run(ctx);
          });
          bench(`POST ${name}: stages through waf`, async () => {
            const ctx = post();
            for (const p of wafStages) await p.run(ctx);
          });
        });
      }
    }
  } else skip('WAF stage', 'POST /items/{id}/reviews did not match');
}

// JWT: jose ES256 verification with the key already imported, and the verified-token cache in front of it.
try {
  const { JwtVerifier } = await import('../src/policies/authn-jwt/verify.ts');
  const { VerifiedTokenCache, withVerifiedCache } = await import('../src/policies/authn-jwt/verified-cache.ts');
  const config = {
    issuers: [
      {
        issuer: issuer.url,
        audience: issuer.audience,
        keys: [issuer.publicPem],
        algorithms: ['ES256'],
        max_token_age_seconds: 3600,
        clock_skew_seconds: 30,
        jwks_cache_max_age_seconds: 600,
        jwks_cooldown_seconds: 30,
        fetch_timeout_ms: 2000,
        scope_claim: 'scope',
        roles_claim: 'roles',
        tenant_claim: 'tenant',
        consumer_claim: 'client_id',
      },
    ],
    token_sources: ['header'],
    max_token_bytes: 8192,
  };
  // The verifier caches verified tokens itself; the first one has the cache off to show the signature's cost.
  const verifier = new JwtVerifier(config as never, { at: 'bench.jwt', verifiedCacheEntries: 0 });
  const gatewayVerifier = new JwtVerifier(config as never, { at: 'bench.jwt' });
  await verifier.verify(issuer.token);
  await gatewayVerifier.verify(issuer.token);
  const cached = withVerifiedCache(verifier, new VerifiedTokenCache());
  summary(() => {
    bench('JWT ES256 verify (static key, no token cache)', async () => do_not_optimize(await verifier.verify(issuer.token)));
    bench('JWT verify as the gateway does (verified-token cache hit)', async () => do_not_optimize(await gatewayVerifier.verify(issuer.token)));
    bench('JWT withVerifiedCache wrapper (hit)', async () => do_not_optimize(await cached.verify(issuer.token)));
  });
} catch (error) {
  skip('JWT verify', error);
}

// The access log line (one per request), built and handed to a destination that discards it.
try {
  const { Writable } = await import('node:stream');
  const { createAccessLog } = await import('../src/server/access-log.ts');
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const accessLog = createAccessLog(createLogger({ level: 'info', destination: sink }));
  const ctx = context();
  bench('request outcome + access log line', () => accessLog.record(outcomeOf(ctx, 200)));
} catch (error) {
  skip('access log line', error);
}

// Per-request bookkeeping off the stages: the metrics of one finished request, and what the audit writer thread
// does per record before its INSERT (canonical JSON of the fields, SHA-256 link, HMAC).
try {
  const { GatewayMetrics } = await import('../src/monitor/metrics.ts');
  const { linkRecords } = await import('../src/audit/chain.ts');
  const { createSecretKey, randomBytes } = await import('node:crypto');
  const metrics = new GatewayMetrics({}, false);
  const ctx = context();
  if (gateway) {
    const found = gateway.table.match('GET', '/items/42');
    if (found.kind === 'found') ctx.route = found.route;
  }
  const outcome = outcomeOf(ctx, 200);
  bench('metrics of one request outcome', () => metrics.sink.record(outcome));
  const macKey = createSecretKey(randomBytes(32));
  const fields = { requestId: 'bench-request-0001', method: 'GET', api: 'bench', operationId: 'getItem', route: '/items/{id}', status: 200, decision: 'allow', ip: 'ip:3f9a0c1d2e3b4a5f', subject: 'user-42', authMethod: 'jwt' };
  const entry = [{ time: '2026-12-08T00:00:00.000Z', type: 'auth.success', fields }];
  bench('audit record link (writer thread: canonical JSON, SHA-256, HMAC)', () => do_not_optimize(linkRecords({ seq: 41, hash: 'a'.repeat(64) }, entry, macKey)));
} catch (error) {
  skip('bookkeeping', error);
}

// API key check: the keyed hash and constant-time comparison every presented key costs.
try {
  const { KeyHasher, generateApiKey, parseApiKey } = await import('../src/policies/authn-apikey/index.ts');
  const hasher = new KeyHasher('p'.repeat(32));
  const { key } = generateApiKey();
  const stored = hasher.digest(key);
  bench('API key parse + HMAC-SHA-256 + timingSafeEqual', () => do_not_optimize(parseApiKey(key) !== undefined && hasher.matches(key, stored)));
} catch (error) {
  skip('API key check', error);
}

// Body JSON safety (JSON.parse + caps + the duplicate-key scan) beside bare JSON.parse, on 128 KiB worst cases.
try {
  const { parseJsonSafely } = await import('../src/policies/validate/json.ts');
  const lifted = { maxDepth: 32, maxObjectKeys: 1_000_000, maxTokens: 100_000_000, rejectDuplicates: true, pointerBase: 'body' };
  const fill = (unit: (i: number) => string, open: string, close: string) => {
    const parts: string[] = [];
    for (let length = 2; length < 128 * 1024; length += parts.at(-1)!.length + 1) parts.push(unit(parts.length));
    return `${open}${parts.join(',')}${close}`;
  };
  const inputs = {
    'object of ~16 000 keys': fill((i) => `"${i.toString(36)}":0`, '{', '}'),
    'nested arrays': fill(() => '[[[1,2],[3,[4]]],[5]]', '[', ']'),
    'long strings': JSON.stringify(Array.from({ length: 16 }, () => 'x'.repeat(8 * 1024 - 4))),
    'token-dense numbers': fill((i) => String(i % 10), '[', ']'),
  };
  for (const [name, text] of Object.entries(inputs)) {
    summary(() => {
      bench(`JSON.parse 128 KiB ${name}`, () => do_not_optimize(JSON.parse(text)));
      bench(`parseJsonSafely 128 KiB ${name} (caps lifted)`, () => do_not_optimize(parseJsonSafely(text, lifted)));
    });
  }
} catch (error) {
  skip('JSON safety', error);
}

// Limiter decision on the in-memory counters (token bucket and sliding window).
try {
  const { MemoryCounter } = await import('../src/counters/memory.ts');
  const counter = new MemoryCounter();
  let i = 0;
  summary(() => {
    bench('limiter decision token_bucket (memory)', () => do_not_optimize(counter.decideSync(`c${i++ & 1023}`, { algorithm: 'token_bucket', intervalMs: 1, burst: 1_000_000 })));
    bench('limiter decision sliding_window (memory)', () => do_not_optimize(counter.decideSync(`s${i++ & 1023}`, { algorithm: 'sliding_window', limit: 1_000_000_000, windowMs: 60_000 })));
  });
} catch (error) {
  skip('limiter decision', error);
}

const { benchmarks } = await run({ colors: values.colors ?? process.stdout.isTTY, ...(values.filter ? { filter: new RegExp(values.filter) } : {}) });
const time = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const rows = benchmarks.flatMap((trial) => trial.runs.map((r) => (r.stats ? `| ${r.name} | ${time(r.stats.avg)} | ${time(r.stats.p50)} | ${time(r.stats.p99)} |` : `| ${r.name} | failed | | |`)));
const skippedText = skipped.length > 0 ? `\nSkipped (not in src/ yet, or not compiled for the benchmark route):\n\n${skipped.map((s) => `- ${s}`).join('\n')}\n` : '';
const summaryText = ['| stage | mean | p50 | p99 |', '|---|---:|---:|---:|', ...rows].join('\n') + '\n' + skippedText;
process.stdout.write(`\n${summaryText}`);
if (values.write) {
  const file = join(dirname(dirname(fileURLToPath(import.meta.url))), 'docs/benchmarks.md');
  const machine = describeMachine({});
  const now = new Date().toISOString();
  const block = [
    MICRO_START,
    `_Generated by \`node bench/micro.ts --write\` on ${now.slice(0, 10)} (${now}). Machine: ${Object.entries(machine).map(([k, v]) => `${k} ${v}`).join(' · ')}._`,
    '',
    summaryText.trimEnd(),
    MICRO_END,
  ].join('\n');
  const text = readFileSync(file, 'utf8');
  const from = text.indexOf(MICRO_START);
  const to = text.indexOf(MICRO_END);
  if (from === -1 || to === -1) throw new Error(`docs/benchmarks.md has no ${MICRO_START} … ${MICRO_END} block`);
  writeFileSync(file, `${text.slice(0, from)}${block}${text.slice(to + MICRO_END.length)}`);
  process.stdout.write('wrote docs/benchmarks.md\n');
}
await gateway?.stop(200);
await issuer.close();
process.exit(0);
