/**
 * The scanner's only way to send a probe: every request goes to the target's origin (the path is all a probe
 * chooses; `sendTo` reaches another port or scheme of the target's own host, nothing else), paced to at most `rps` requests per second, at most `maxRequests` in total and within `maxDurationMs`,
 * each with a timeout and a bounded response body (the rest is not read). Redirects are not followed.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { isLoopbackHost } from '../http/hosts.ts';

/** Largest response body read per request, in bytes (the connection's body is dropped after it). */
export const MAX_RESPONSE_BYTES = 256 * 1024;

export interface ClientOptions {
  /** The target's base URL; only its origin is contacted. */
  readonly target: URL;
  /** Requests per second, at most. Default 10. */
  readonly rps?: number;
  /** Requests in total, at most. Default 1000. */
  readonly maxRequests?: number;
  /** Per-request timeout in milliseconds. Default 10000. */
  readonly timeoutMs?: number;
  /** Whole-scan time budget in milliseconds. Default 600000 (10 min). */
  readonly maxDurationMs?: number;
  /** Accept a self-signed certificate (for loopback HTTPS targets). Default false. */
  readonly insecureTls?: boolean;
}

export interface ProbeRequest {
  readonly method: string;
  /** Path and query, sent exactly as given (no normalisation: `%2e%2e` stays `%2e%2e`). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface ProbeResponse {
  readonly status: number;
  /** Header names lower-case; repeated headers as arrays. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** UTF-8 body, at most {@link MAX_RESPONSE_BYTES} bytes of it. */
  readonly body: string;
  readonly elapsedMs: number;
}

/** Thrown when the request count or the time budget is used up: the scan stops probing and reports what it has. */
export class BudgetExhausted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExhausted';
  }
}

export interface ScanClient {
  send(request: ProbeRequest): Promise<ProbeResponse>;
  /**
   * Sends to another origin of the target's own host (another port or scheme: plain HTTP, a server the spec
   * lists), within the same budget and pacing. Throws {@link OtherHostError} unless {@link sameHost} holds.
   */
  sendTo(origin: URL, request: ProbeRequest): Promise<ProbeResponse>;
  /**
   * Whether `hostname` is the target's host: the same name, both loopback, or a name whose every address is one of
   * the target's (DNS, {@link DNS_TIMEOUT_MS}). Only such a host may receive probes.
   */
  sameHost(hostname: string): Promise<boolean>;
  /** Takes one slot of the request budget and the pacing, for a probe that connects without HTTP (TLS handshakes). */
  acquire(): Promise<void>;
  /** Requests sent so far. */
  readonly sent: number;
  /** Full URL of a path on the target (for evidence). */
  urlOf(path: string): string;
  close(): Promise<void>;
}

/** Thrown when a probe asks to send to a host that is not the target's (a programming error, never sent). */
export class OtherHostError extends Error {
  constructor(hostname: string) {
    super(`${hostname} is not the target's host: not contacted`);
    this.name = 'OtherHostError';
  }
}

/** How long a DNS lookup for {@link ScanClient.sameHost} may take, in milliseconds. */
export const DNS_TIMEOUT_MS = 2000;

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '').toLowerCase();

async function addressesOf(hostname: string): Promise<string[]> {
  const name = bare(hostname);
  if (isIP(name)) return [name];
  const timeout = sleep(DNS_TIMEOUT_MS).then(() => [] as { address: string }[]);
  const found = await Promise.race([lookup(name, { all: true }).catch(() => [] as { address: string }[]), timeout]);
  return found.map((a) => a.address);
}

/** Creates the paced, capped client for one scan. */
export function createScanClient(options: ClientOptions): ScanClient {
  const rps = options.rps ?? 10;
  const maxRequests = options.maxRequests ?? 1000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + (options.maxDurationMs ?? 600_000);
  if (!(rps > 0) || !Number.isInteger(maxRequests) || maxRequests < 1) throw new Error('rps must be > 0 and maxRequests a positive integer');
  const origin = options.target.origin;
  const client = new Client(origin, {
    connect: { rejectUnauthorized: options.insecureTls !== true, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const interval = 1000 / rps;
  let sent = 0;
  let nextSlot = 0;
  const host = options.target.host;

  async function acquire(): Promise<void> {
    if (sent >= maxRequests) throw new BudgetExhausted(`request budget of ${maxRequests} used up`);
    if (Date.now() >= deadline) throw new BudgetExhausted('scan time budget used up');
    sent += 1;
    const now = Date.now();
    const slot = Math.max(now, nextSlot);
    nextSlot = slot + interval;
    if (slot > now) await sleep(slot - now);
  }

  const others = new Map<string, Client>();
  const verdicts = new Map<string, Promise<boolean>>();
  let targetAddresses: Promise<string[]> | undefined;

  function sameHost(hostname: string): Promise<boolean> {
    const name = bare(hostname);
    const targetName = bare(options.target.hostname);
    if (name === targetName || (isLoopbackHost(name) && isLoopbackHost(targetName))) return Promise.resolve(true);
    // A loopback name for a remote target is the scanner's own machine, not the target.
    if (isLoopbackHost(name) || isLoopbackHost(targetName)) return Promise.resolve(false);
    let verdict = verdicts.get(name);
    if (!verdict) {
      targetAddresses ??= addressesOf(targetName);
      verdict = Promise.all([addressesOf(name), targetAddresses]).then(([mine, theirs]) => mine.length > 0 && mine.every((a) => theirs.includes(a)));
      verdicts.set(name, verdict);
    }
    return verdict;
  }

  async function sendTo(origin: URL, request: ProbeRequest): Promise<ProbeResponse> {
    if (origin.origin === options.target.origin) return send(request);
    if (!(await sameHost(origin.hostname))) throw new OtherHostError(origin.hostname);
    let other = others.get(origin.origin);
    if (!other) {
      other = new Client(origin.origin, { connect: { rejectUnauthorized: options.insecureTls !== true, timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      others.set(origin.origin, other);
    }
    return sendWith(other, origin.host, request);
  }

  const send = (request: ProbeRequest): Promise<ProbeResponse> => sendWith(client, host, request);

  async function sendWith(client: Client, host: string, request: ProbeRequest): Promise<ProbeResponse> {
    await acquire();
    const started = performance.now();
    const res = await client.request({
      method: request.method,
      path: request.path.startsWith('/') ? request.path : `/${request.path}`,
      headers: { host, 'user-agent': 'rampart-scan', ...request.headers },
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      chunks.push(buf.subarray(0, MAX_RESPONSE_BYTES - size));
      size += buf.length;
      // Enough for evidence: leaving the loop destroys the body, so an endless answer cannot hold the scan.
      if (size >= MAX_RESPONSE_BYTES) break;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers[name.toLowerCase()] = value;
    return { status: res.statusCode, headers, body: Buffer.concat(chunks).toString('utf8'), elapsedMs: performance.now() - started };
  }

  return {
    send,
    sendTo,
    sameHost,
    acquire,
    get sent() {
      return sent;
    },
    urlOf: (path) => origin + (path.startsWith('/') ? path : `/${path}`),
    close: async () => {
      await Promise.all([client.close(), ...[...others.values()].map((c) => c.close())]);
    },
  };
}

/** A header's single value (the first when repeated). */
export function headerOf(response: ProbeResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
