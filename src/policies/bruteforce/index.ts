import { createHmac, randomBytes } from 'node:crypto';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError, type CountState } from '../../counters/types.ts';
import type { Logger } from '../../log.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { ProxiedResponse, RequestPolicy, ResponsePolicy } from '../../pipeline/stages.ts';
import { GatewayError } from '../../problem.ts';
import type { SecurityEvents } from '../../monitor/events.ts';
import { mediaTypeOf } from '../limits/index.ts';
import type { PolicyBuildInput } from '../index.ts';
import { loginOf } from './login.ts';
import type { BruteForceConfig } from './schema.ts';

/** Per-process HMAC key for account identifiers when none is configured (memory counters only). */
const PROCESS_KEY = randomBytes(32);
const MAX_ACCOUNT_CHARS = 256;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the request stage learnt, for the response stage of the same request. */
interface Attempt {
  readonly keys: readonly string[];
  readonly ip: string;
  readonly account: string | undefined;
}

/** Counter keys of one attempt: per IP, per account, per IP×account (thresholds in the same order). */
function keysOf(ip: string, account: string | undefined): string[] {
  return account === undefined ? [`ip:${ip}`] : [`ip:${ip}`, `acct:${account}`, `ipacct:${ip}:${account}`];
}

/** Reads the account identifier from a JSON or form body: a top-level or dotted field, strings only. */
function accountFrom(body: Buffer, contentType: string | undefined, field: string): string | undefined {
  let value: unknown;
  const type = mediaTypeOf(contentType);
  try {
    if (type === 'application/x-www-form-urlencoded') {
      value = new URLSearchParams(body.toString('utf8')).get(field) ?? undefined;
    } else {
      let node: unknown = JSON.parse(body.toString('utf8'));
      for (const part of field.split('.')) {
        node = node !== null && typeof node === 'object' && Object.hasOwn(node, part) ? (node as Record<string, unknown>)[part] : undefined;
      }
      value = node;
    }
  } catch {
    return undefined;
  }
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value.slice(0, MAX_ACCOUNT_CHARS).normalize('NFKC').trim().toLowerCase();
}

/**
 * Brute-force and credential-stuffing protection for one login route (`x-rampart-login` or
 * `operations.<id>.login`). The request stage reads the account field, hashes it (HMAC-SHA256; the identifier is
 * never stored or logged in clear), refuses locked IPs / accounts / IP×account pairs with 429 `account_locked`,
 * and delays attempts progressively after `delay_after` failures. The response stage counts upstream 401/403 as
 * failures (reaching a threshold starts a lockout), clears the IP×account counter on success, and raises security
 * events when one IP fails on many accounts or one account fails from many IPs. Returns undefined off login routes.
 * Throws (naming the config path) when Redis counters are used without a shared `account_key`.
 */
export function createBruteForcePolicies(input: PolicyBuildInput): BruteForcePolicies | undefined {
  // The request and response halves share per-request state, so both factory calls for one route get one pair.
  if (!built.has(input)) built.set(input, build(input));
  return built.get(input);
}

type BruteForcePolicies = { readonly request: RequestPolicy; readonly response: ResponsePolicy };
const built = new WeakMap<PolicyBuildInput, BruteForcePolicies | undefined>();

function build(input: PolicyBuildInput): BruteForcePolicies | undefined {
  const login = loginOf(input);
  const config = input.api.brute_force;
  if (!login || !config?.enabled) return undefined;
  const counters = input.services.counters;
  if (!counters) throw new Error('brute-force protection needs the counters service');
  if (counters.shared.kind === 'redis' && config.account_key === undefined) {
    throw new Error(`apis[${input.apiIndex}].brute_force.account_key: required with redis counters so every instance hashes accounts alike`);
  }
  const key = config.account_key === undefined ? PROCESS_KEY : Buffer.from(config.account_key, 'utf8');
  const hashAccount = (account: string) => createHmac('sha256', key).update(account).digest('base64url').slice(0, 32);
  const group = `bf:${input.api.name}:${input.operationId}`;
  counters.logins.set(`${input.api.name}:${input.operationId}`, { group, hashAccount });
  const attempts = new WeakMap<RequestContext, Attempt>();
  return {
    request: requestPolicy(config, login.account_field, input.maxBodyBytes, group, hashAccount, counters, attempts, input.services.logger),
    response: responsePolicy(config, group, counters, attempts, input.services.events, input.services.logger),
  };
}

async function withFallback<T>(counters: Counters, failure: 'open' | 'closed', run: (b: Counters['shared']) => Promise<T>): Promise<T> {
  try {
    return await run(counters.shared);
  } catch (error) {
    if (!(error instanceof CounterUnavailableError)) throw error;
    if (failure === 'open') return run(counters.local);
    throw new GatewayError('service_unavailable', 'brute-force counters unavailable; login fails closed', { cause: error, headers: { 'retry-after': '1' } });
  }
}

function thresholdsOf(config: BruteForceConfig, keys: readonly string[]): number[] {
  return [config.max_failures_ip, config.max_failures_account, config.max_failures_ip_account].slice(0, keys.length === 1 ? 1 : 3);
}

function requestPolicy(
  config: BruteForceConfig,
  field: string,
  maxBodyBytes: number,
  group: string,
  hashAccount: (account: string) => string,
  counters: Counters,
  attempts: WeakMap<RequestContext, Attempt>,
  logger: Logger,
): RequestPolicy {
  return {
    name: 'brute-force',
    stage: 'pre_auth_rate_limit',
    async run(ctx: RequestContext): Promise<void> {
      const raw = ctx.hasBody ? accountFrom(await ctx.readBody(maxBodyBytes), ctx.headers['content-type'], field) : undefined;
      const account = raw === undefined ? undefined : hashAccount(raw);
      const keys = keysOf(ctx.clientIp, account);
      attempts.set(ctx, { keys, ip: ctx.clientIp, account });
      const states = await withFallback(counters, config.failure, (b) => b.peek(group, keys));
      const thresholds = thresholdsOf(config, keys);
      let lockedFor = 0;
      states.forEach((s, i) => {
        if (s.count >= thresholds[i]! && s.ttlMs > lockedFor) lockedFor = s.ttlMs;
      });
      if (lockedFor > 0) {
        ctx.notes['bruteForce'] = 'locked';
        throw new GatewayError('account_locked', 'login locked out after repeated failures', {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(lockedFor / 1000))) },
        });
      }
      const failures = Math.max(states[0]!.count, states[2]?.count ?? 0);
      if (failures >= config.delay_after) {
        const delay = Math.min(config.max_delay_ms, config.delay_base_ms * 2 ** Math.min(20, failures - config.delay_after));
        ctx.notes['bruteForceDelayMs'] = delay;
        logger.debug({ requestId: ctx.id, delayMs: delay, failures }, 'brute-force delay');
        await sleep(delay);
      }
    },
  };
}

function responsePolicy(
  config: BruteForceConfig,
  group: string,
  counters: Counters,
  attempts: WeakMap<RequestContext, Attempt>,
  events: SecurityEvents | undefined,
  logger: Logger,
): ResponsePolicy {
  const emit = (ctx: RequestContext, type: 'lockout' | 'credential_stuffing' | 'distributed_brute_force', reason: string, fields: Record<string, unknown>) =>
    events?.emit({ type, requestId: ctx.id, ip: ctx.clientIp, reason, fields: { api: ctx.route?.api.name, operation: ctx.route?.operationId, ...fields } });
  return {
    name: 'brute-force',
    needsBody: false,
    async run(ctx: RequestContext, response: ProxiedResponse): Promise<void> {
      const attempt = attempts.get(ctx);
      if (!attempt) return;
      try {
        if (response.status === 401 || response.status === 403) {
          const thresholds = thresholdsOf(config, attempt.keys);
          const after: CountState[] = await withFallback(counters, 'open', (b) => b.hit(group, attempt.keys, config.window_ms, thresholds, config.lockout_ms));
          after.forEach((s, i) => {
            if (s.count === thresholds[i]) emit(ctx, 'lockout', attempt.keys[i]!.split(':')[0]!, { lockoutMs: s.ttlMs, account: attempt.account });
          });
          if (attempt.account === undefined) return;
          const accounts = await withFallback(counters, 'open', (b) => b.distinct(group, `dip:${attempt.ip}`, attempt.account!, config.window_ms, config.distinct_accounts_per_ip));
          if (accounts === config.distinct_accounts_per_ip) emit(ctx, 'credential_stuffing', 'many_accounts_per_ip', { accounts });
          const ips = await withFallback(counters, 'open', (b) => b.distinct(group, `dacct:${attempt.account}`, attempt.ip, config.window_ms, config.distinct_ips_per_account));
          if (ips === config.distinct_ips_per_account) emit(ctx, 'distributed_brute_force', 'many_ips_per_account', { ips, account: attempt.account });
        } else if (response.status < 400 && attempt.account !== undefined) {
          await withFallback(counters, 'open', (b) => b.clear(group, [attempt.keys[2]!]));
        }
      } catch (error) {
        // The upstream has answered; failing to count must not replace its response. Logged for operators.
        logger.warn({ requestId: ctx.id, err: { name: (error as Error).name, message: (error as Error).message } }, 'brute-force counting failed');
      }
    },
  };
}
