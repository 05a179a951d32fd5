import { createHmac, randomBytes } from 'node:crypto';
import type { Counters } from '../../counters/index.ts';
import { CounterUnavailableError, type CounterBackend, type CountState } from '../../counters/types.ts';
import type { Logger } from '../../log.ts';
import type { RequestContext, ProxiedResponse, RequestPolicy, ResponsePolicy, PolicyBuildInput } from '../../pipeline/types.ts';
import { ConfigIssueError } from '../../config/errors.ts';
import { GatewayError } from '../../problem.ts';
import type { SecurityEvents } from '../../bus/events.ts';
import { parsedBody } from '../validate/body.ts';
import { bodyLimitsFor } from '../validate/index.ts';
import { clientNetwork, DEFAULT_IPV6_PREFIX } from '../ratelimit/keys.ts';
import { loginOf } from './login.ts';
import { compileFailureCondition, type FailureCondition } from './failure.ts';
import type { BruteForceConfig } from './schema.ts';

/** Per-process HMAC key for account identifiers when none is configured (memory counters only). */
const PROCESS_KEY = randomBytes(32);
const MAX_ACCOUNT_CHARS = 256;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the request stage reserved, for the response stage (or the end) of the same request. */
interface Attempt {
  readonly keys: readonly string[];
  /** The client's counted network (IPv6 aggregated by prefix). */
  readonly ip: string;
  readonly account: string | undefined;
  /** The backend holding the reservation: settled there, whichever backend answers later. */
  readonly backend: CounterBackend;
  /** Counts after the reservation, per key. */
  readonly reserved: readonly CountState[];
  /** Set once the attempt is kept as a failure or released. */
  settled: boolean;
}

/** Counter keys of one attempt: per IP, per account, per IP×account (thresholds in the same order). */
function keysOf(ip: string, account: string | undefined): string[] {
  return account === undefined ? [`ip:${ip}`] : [`ip:${ip}`, `acct:${account}`, `ipacct:${ip}:${account}`];
}

/**
 * Reads the account identifier (a top-level or dotted field, strings only) from the body as every stage sees it
 * (validate/body.ts `parsedBody`: one parse per request, refusing BOMs, non-UTF-8 charsets and duplicate keys with
 * 400 before any stage reads the account). A form field sent twice is refused: upstreams pick either value.
 */
async function accountFrom(ctx: RequestContext, maxBodyBytes: number, field: string): Promise<string | undefined> {
  if (!ctx.route) throw new GatewayError('internal', 'brute-force stage ran before routing');
  const body = await parsedBody(ctx, bodyLimitsFor(ctx.route.api, maxBodyBytes));
  if (body === undefined || body.kind === 'raw') return undefined;
  let value: unknown = body.value;
  if (body.kind === 'form') {
    value = (value as Record<string, unknown>)[field];
    if (Array.isArray(value)) throw new GatewayError('validation_failed', 'login account field repeated', { errors: [{ pointer: 'body', message: 'must not repeat the account field' }] });
  } else {
    for (const part of field.split('.')) {
      value = value !== null && typeof value === 'object' && Object.hasOwn(value, part) ? (value as Record<string, unknown>)[part] : undefined;
    }
  }
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value;
}

/** The one spelling of an account every counter key uses (the admin API's lockout lifting goes through it too). */
function normaliseAccount(account: string): string {
  return account.slice(0, MAX_ACCOUNT_CHARS).normalize('NFKC').trim().toLowerCase();
}

/** The request and response halves of one login route, sharing per-request state. */
type BruteForcePolicies = { readonly request: RequestPolicy; readonly response: ResponsePolicy };

/**
 * Brute-force and credential-stuffing protection for one login route (`x-rampart-login` or
 * `operations.<id>.login`). The request stage reads the account field, hashes it (HMAC-SHA256; the identifier is
 * never stored or logged in clear), then reserves the attempt on the per-IP (IPv6 per network), per-account and
 * per-IP×account counters in one atomic call before forwarding: a locked key refuses it with 429 `account_locked`,
 * so N parallel attempts never pass a threshold. Attempts after `delay_after` failures are delayed progressively.
 * The response stage keeps the reservation as a failure on upstream 401/403 (the reservation that reached a
 * threshold started that lockout) and on 5xx, releases it otherwise (a success also clears the IP×account
 * counter), and raises security events when one IP fails on many accounts or one account fails from many IPs.
 * Requests that end without an upstream answer are settled when the exchange closes (see settleUnanswered).
 * Returns undefined off login routes.
 * Throws (naming the config path) when Redis counters are used without a shared `account_key`.
 */
export function createBruteForcePolicies(input: PolicyBuildInput): BruteForcePolicies | undefined {
  const marker = loginOf(input);
  const config = input.api.brute_force;
  if (!marker || !config?.enabled) return undefined;
  const login = marker.config;
  const failure = compileFailureCondition(login, marker.at);
  warnIfFailureNeverMatches(input, failure, marker.at);
  const uniformMs = login.uniform_failures ? login.min_response_ms : undefined;
  const counters = input.services.counters;
  if (!counters) throw new Error('brute-force protection needs the counters service');
  if (counters.shared.kind === 'redis' && config.account_key === undefined) {
    throw new ConfigIssueError(`apis[${input.apiIndex}].brute_force.account_key`, 'is required with redis counters, so that every instance hashes accounts alike', 'set it to the same ${env:…} or ${file:…} secret on every instance');
  }
  const key = config.account_key === undefined ? PROCESS_KEY : Buffer.from(config.account_key, 'utf8');
  const hashAccount = (account: string) => createHmac('sha256', key).update(normaliseAccount(account)).digest('base64url').slice(0, 32);
  const group = `bf:${input.api.name}:${input.operationId}`;
  const ipv6Prefix = input.config.counters?.ipv6_prefix ?? DEFAULT_IPV6_PREFIX;
  input.logins?.set(`${input.api.name}:${input.operationId}`, { group, hashAccount, network: (ip) => clientNetwork(ip, ipv6Prefix) });
  const attempts = new WeakMap<RequestContext, Attempt>();
  return {
    request: requestPolicy(config, ipv6Prefix, login.account_field, input.maxBodyBytes, group, hashAccount, counters, attempts, input.services.logger),
    response: responsePolicy(config, group, counters, attempts, input.services.events, input.services.logger, failure, uniformMs),
  };
}

/**
 * A login whose failure condition matches none of the responses its operation declares counts nothing: brute force
 * goes unnoticed (the usual case: an app answering failures with `200 {"message": …}`). Warned at start and by check.
 */
function warnIfFailureNeverMatches(input: PolicyBuildInput, failure: FailureCondition, at: string): void {
  const declared = Object.keys(input.operation?.responses ?? {});
  if (declared.length === 0 || declared.some((status) => failure.canMatch(status))) return;
  input.warn?.(
    at,
    `the failed-login condition matches none of the responses operation ${input.operationId} declares (${declared.join(', ')}), so failed logins are never counted; set failure.status or failure.body (e.g. { pointer: /message, matches: "not correct" })`,
  );
}

const unavailable = (cause: unknown) =>
  new GatewayError('service_unavailable', 'brute-force counters unavailable; login fails closed', { cause, headers: { 'retry-after': '1' } });

/** The limit name brute-force fallbacks are counted under (`rampart_counter_fallback_total{limit}`). */
export const FALLBACK_NAME = 'brute_force';

/**
 * Runs `run` through the counters' shared fallback path — within the request's wait budget, each local decision
 * metered, logged at most every 10 s and reported on /readyz — on the local backend when the shared one cannot
 * answer (`open`), or denies with 503 (`closed`).
 */
async function withFallback<T>(counters: Counters, failure: 'open' | 'closed', ctx: RequestContext, run: (b: CounterBackend) => Promise<T>): Promise<T> {
  try {
    return await counters.withFallback(FALLBACK_NAME, ctx, run, failure);
  } catch (error) {
    throw error instanceof CounterUnavailableError ? unavailable(error) : error;
  }
}

function thresholdsOf(config: BruteForceConfig, keys: readonly string[]): number[] {
  return [config.max_failures_ip, config.max_failures_account, config.max_failures_ip_account].slice(0, keys.length === 1 ? 1 : 3);
}

function requestPolicy(
  config: BruteForceConfig,
  ipv6Prefix: number,
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
      const raw = ctx.hasBody ? await accountFrom(ctx, maxBodyBytes, field) : undefined;
      const account = raw === undefined ? undefined : hashAccount(raw);
      const ip = clientNetwork(ctx.clientIp, ipv6Prefix);
      const keys = keysOf(ip, account);
      const thresholds = thresholdsOf(config, keys);
      // Reserve the attempt before it is forwarded, so parallel attempts cannot all pass a check made before any
      // of them failed: one atomic check-and-count for every key.
      let backend: CounterBackend = counters.shared;
      const reservation = await withFallback(counters, config.failure, ctx, (b) => {
        backend = b;
        return b.reserve(group, { keys, thresholds, windowMs: config.window_ms, lockMs: config.lockout_ms });
      });
      if (!reservation.allowed) {
        let lockedFor = 0;
        reservation.states.forEach((s, i) => {
          if (s.count >= thresholds[i]! && s.ttlMs > lockedFor) lockedFor = s.ttlMs;
        });
        ctx.notes.bruteForce = 'locked';
        throw new GatewayError('account_locked', 'login locked out after repeated failures', {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(lockedFor / 1000))) },
        });
      }
      const attempt: Attempt = { keys, ip, account, backend, reserved: reservation.states, settled: false };
      attempts.set(ctx, attempt);
      ctx.res.once('close', () => settleUnanswered(ctx, attempt, group, logger));
      // Failures before this attempt: its own reservation is not one.
      const failures = Math.max(reservation.states[0]!.count, reservation.states[2]?.count ?? 0) - 1;
      if (failures >= config.delay_after) {
        const delay = Math.min(config.max_delay_ms, config.delay_base_ms * 2 ** Math.min(20, failures - config.delay_after));
        ctx.notes.bruteForceDelayMs = delay;
        logger.debug({ requestId: ctx.id, delayMs: delay, failures }, 'brute-force delay');
        await sleep(delay);
      }
    },
  };
}

/**
 * Settles a reservation whose response stage never ran, when the exchange ends. A request the gateway answered
 * itself without contacting the upstream (a later stage denied it) was no guess: released. Anything else (upstream
 * error or timeout, client gone before the answer) keeps the reservation as a failure: the guess may have reached
 * the login, and refunding it would let a client that disconnects early guess without limit. Kept counts expire
 * with the failure window like any other failure.
 */
function settleUnanswered(ctx: RequestContext, attempt: Attempt, group: string, logger: Logger): void {
  if (attempt.settled) return;
  attempt.settled = true;
  if (!ctx.res.writableFinished || ctx.upstreamNs !== 0n || ctx.upstreamStatus !== undefined) return;
  attempt.backend.release(group, attempt.keys).catch((error: unknown) => logCountingFailure(logger, ctx, error));
}

function logCountingFailure(logger: Logger, ctx: RequestContext, error: unknown): void {
  logger.warn({ requestId: ctx.id, err: { name: (error as Error).name, message: (error as Error).message } }, 'brute-force counting failed');
}

function responsePolicy(
  config: BruteForceConfig,
  group: string,
  counters: Counters,
  attempts: WeakMap<RequestContext, Attempt>,
  events: SecurityEvents | undefined,
  logger: Logger,
  failure: FailureCondition,
  uniformMs: number | undefined,
): ResponsePolicy {
  const emit = (ctx: RequestContext, type: 'lockout' | 'credential_stuffing' | 'distributed_brute_force', reason: string, fields: Record<string, unknown>) =>
    events?.emit({ type, requestId: ctx.id, ip: ctx.clientIp, reason, fields: { api: ctx.route?.api.name, operation: ctx.route?.operationId, ...fields } });
  return {
    name: 'brute-force',
    stage: 'outcome',
    needsBody: failure.needsBody,
    async run(ctx: RequestContext, response: ProxiedResponse): Promise<void> {
      const attempt = attempts.get(ctx);
      if (!attempt || attempt.settled) return;
      attempt.settled = true;
      const failed = failure.isFailure(response);
      if (failed) ctx.notes.bruteForce = 'failed';
      await settleAttempt(ctx, attempt, response, failed);
      if (failed && uniformMs !== undefined) {
        // One answer for every failed login, never earlier than uniformMs after arrival: neither the upstream's
        // message ("no such user" / "wrong password") nor its timing tells an attacker whether the account exists.
        const elapsedMs = Number(process.hrtime.bigint() - ctx.startedAt) / 1e6;
        if (elapsedMs < uniformMs) await sleep(uniformMs - elapsedMs);
        throw new GatewayError('login_failed', `failed login (upstream ${response.status}) answered uniformly`);
      }
    },
  };

  async function settleAttempt(ctx: RequestContext, attempt: Attempt, response: ProxiedResponse, failed: boolean): Promise<void> {
    const { backend, keys } = attempt;
    // Settling waits on the backend holding the reservation; on the shared one, within what is left of the
    // request's wait budget (a stalled Redis delays the answer by at most the timeout in total).
    const settle = <T>(call: (b: CounterBackend) => Promise<T>): Promise<T> => (backend === counters.local ? call(backend) : counters.within(ctx, () => call(backend)));
    try {
      if (failed) {
        // The reservation stands as the failure; the one that reached a threshold started that lockout.
        const thresholds = thresholdsOf(config, keys);
        attempt.reserved.forEach((s: CountState, i) => {
          if (s.count === thresholds[i]) emit(ctx, 'lockout', keys[i]!.split(':')[0]!, { lockoutMs: s.ttlMs, account: attempt.account });
        });
        const account = attempt.account;
        if (account === undefined) return;
        const accounts = await settle((b) => b.distinct(group, `dip:${attempt.ip}`, account, config.window_ms, config.distinct_accounts_per_ip));
        if (accounts === config.distinct_accounts_per_ip) emit(ctx, 'credential_stuffing', 'many_accounts_per_ip', { accounts });
        const ips = await settle((b) => b.distinct(group, `dacct:${account}`, attempt.ip, config.window_ms, config.distinct_ips_per_account));
        if (ips === config.distinct_ips_per_account) emit(ctx, 'distributed_brute_force', 'many_ips_per_account', { ips, account });
      } else if (response.status < 500) {
        // Not a failed login (success, or a request the login refused before checking it): the attempt is
        // released; a success also forgets the pair's failures. A 5xx keeps it, like an upstream that never answered.
        if (response.status < 400 && attempt.account !== undefined) {
          await settle((b) => b.release(group, keys.slice(0, 2)));
          await settle((b) => b.clear(group, [keys[2]!]));
        } else {
          await settle((b) => b.release(group, keys));
        }
      }
    } catch (error) {
      // The upstream has answered; failing to count must not replace its response. Logged for operators.
      logCountingFailure(logger, ctx, error);
    }
  }
}
