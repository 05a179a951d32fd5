/**
 * Micro-benchmarks of the hot stages (mitata): route match, JWT verification with a cached key (and with the
 * verified-token cache), API key check, limiter decision, and every request/response policy the full benchmark
 * configuration compiles (request validation, response minimisation, …). Stages not in src/ yet are listed as
 * skipped. Usage: node bench/micro.ts [--filter REGEX]
 */
import { parseArgs } from 'node:util';
import { bench, do_not_optimize, run, summary } from 'mitata';
import { createLogger } from '../src/log.ts';
import { RequestContext, type ServerRequest, type ServerResponseLike } from '../src/pipeline/context.ts';
import { Gateway } from '../src/server/gateway.ts';
import { startIssuer } from './lib/issuer.ts';
import { ITEM } from './lib/item.ts';
import { buildConfig, FEATURES, writeConfig } from './lib/rampart.ts';

const { values } = parseArgs({ options: { filter: { type: 'string' } } });
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
      bench(`request policy ${policy.name} (${policy.stage})`, async () => {
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
  const verifier = new JwtVerifier(config as never, { at: 'bench.jwt' });
  await verifier.verify(issuer.token);
  const cached = withVerifiedCache(verifier, new VerifiedTokenCache());
  summary(() => {
    bench('JWT ES256 verify (static key, no token cache)', async () => do_not_optimize(await verifier.verify(issuer.token)));
    bench('JWT verify through the verified-token cache (hit)', async () => do_not_optimize(await cached.verify(issuer.token)));
  });
} catch (error) {
  skip('JWT verify', error);
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

await run(values.filter ? { filter: new RegExp(values.filter) } : {});
if (skipped.length > 0) process.stdout.write(`\nskipped (not in src/ yet, or not compiled for the benchmark route):\n${skipped.map((s) => `  - ${s}`).join('\n')}\n`);
await gateway?.stop(200);
await issuer.close();
process.exit(0);
