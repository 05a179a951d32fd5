/**
 * Shared fixtures for the core gateway integration tests (test/gateway-*.test.ts): a small OpenAPI document, a
 * config builder, and raw HTTP clients that send targets and headers exactly as written (fetch normalises paths).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';

/** A small OpenAPI 3.1 document: list/create/get/delete items, a slow operation and an upload. */
export const ITEMS_SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
paths:
  /items:
    get:
      operationId: listItems
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
    post:
      operationId: createItem
      requestBody:
        content:
          application/json:
            schema: { type: object }
      responses:
        '200': { description: ok, content: { application/json: { schema: { type: object } } } }
        '201': { description: created, content: { application/json: { schema: { type: object } } } }
  /items/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: string } }
    get:
      parameters:
        - { name: x, in: query, schema: { type: string } }
      operationId: getItem
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
    delete:
      operationId: deleteItem
      responses: { '204': { description: deleted } }
  /slow:
    get:
      operationId: slow
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

/** A config object for startGateway: one API `items` with ITEMS_SPEC in front of `upstreamUrl`. */
export function itemsConfig(upstreamUrl: string, extra: { upstream?: Record<string, unknown>; api?: Record<string, unknown>; [key: string]: unknown } = {}): Record<string, unknown> {
  const { upstream, api, ...rest } = extra;
  return {
    upstreams: { main: { url: upstreamUrl, ...upstream } },
    apis: [{ name: 'items', spec: './items.yaml', upstream: 'main', ...api }],
    ...rest,
  };
}

export const SPEC_FILES = { 'items.yaml': ITEMS_SPEC };

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: () => Record<string, unknown>;
}

/**
 * Sends one HTTP/1.1 request with node:http (or node:https for https URLs, certificate not verified) without
 * touching the path: `%2e%2e` stays `%2e%2e`. A fresh connection per request (agent: false).
 */
export function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; chunks?: (string | Buffer)[]; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  const requester = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = requester({
      host: url.hostname,
      port: url.port,
      method: options.method ?? 'GET',
      path,
      headers: options.headers,
      agent: false,
      rejectUnauthorized: false,
      timeout: options.timeoutMs ?? 10_000,
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> });
      });
    });
    if (options.chunks) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/**
 * Writes raw bytes on a TCP socket and collects everything until the server closes or `timeoutMs` passes.
 * Resolves with the text received and whether the server closed the connection.
 */
export function rawExchange(port: number, data: string, timeoutMs = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
    }, timeoutMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true });
    });
  });
}

/** Status code of a raw HTTP/1.1 response text (0 when none). */
export function rawStatus(text: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return match ? Number(match[1]) : 0;
}

/** The JSON body of a raw HTTP/1.1 response text. */
export function rawJson(text: string): Record<string, unknown> {
  const start = text.indexOf('\r\n\r\n');
  return JSON.parse(text.slice(start + 4)) as Record<string, unknown>;
}

/** Asserts nothing: returns the problem fields a test checks (type suffix, status, requestId presence). */
export function problemOf(body: Record<string, unknown>): { code: string; status: unknown; hasRequestId: boolean; keys: string[] } {
  const type = String(body['type'] ?? '');
  return {
    code: type.replace('https://rampart.dev/problems/', ''),
    status: body['status'],
    hasRequestId: typeof body['requestId'] === 'string' && (body['requestId'] as string).length > 0,
    keys: Object.keys(body).sort(),
  };
}

/** Waits until `check` returns true, polling every 25 ms, for at most `timeoutMs`; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
