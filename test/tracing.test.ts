/**
 * OpenTelemetry tracing through a real gateway: a real OTLP/HTTP receiver decodes what the exporter sends, a real
 * upstream records the `traceparent` it got, and a real issuer signs the tokens. Parentage is asserted end to end
 * (client → server span → stage spans and upstream span → upstream), and so is what an attacker can send: forged,
 * malformed, repeated and oversized trace headers, and a client forcing a trace onto a gateway that trusts nobody.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { loadConfigText } from '../src/config/load.ts';
import { startGateway, type TestGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startTestIssuer, type TestIssuer } from './helpers/jwt-issuer.ts';
import { eventually, problemOf, send } from './helpers/gateway-fixtures.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.ts';

const SPEC = `openapi: 3.1.0
info: { title: items, version: 1.0.0 }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
security:
  - bearer: []
paths:
  /items/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: string, maxLength: 64 } }
    get:
      operationId: getItem
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /health:
    get:
      operationId: health
      security: []
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
`;

const TRACE_HEADER = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function config(upstreamUrl: string, issuer: TestIssuer, tracing: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    trusted_proxies: ['10.9.9.9'],
    upstreams: { main: { url: upstreamUrl } },
    apis: [{ name: 'items', spec: './items.yaml', upstream: 'main', auth: { jwt: { issuers: [{ issuer: issuer.issuer, audience: 'items-api', jwks_url: `${issuer.url}/jwks` }] } } }],
    ...(tracing ? { tracing } : {}),
  };
}

function upstreamTrace(upstream: TestUpstream): { traceId: string; parentId: string; sampled: boolean; tracestate: unknown } {
  const seen = upstream.seen.at(-1)!;
  const match = TRACE_HEADER.exec(String(seen.headers['traceparent']));
  assert.ok(match, `the upstream got a valid traceparent (got ${String(seen.headers['traceparent'])})`);
  return { traceId: match[1]!, parentId: match[2]!, sampled: String(seen.headers['traceparent']).endsWith('-01'), tracestate: seen.headers['tracestate'] };
}

/** The spans of one trace once at least `count` arrived, the server span among them (it ends last, maybe in a later batch). */
async function spansOf(receiver: OtlpReceiver, traceId: string, count: number): Promise<ReceivedSpan[]> {
  const mine = () => receiver.spans.filter((s) => s.traceId === traceId);
  const arrived = () => mine().length >= count && mine().some((s) => s.kind === 2);
  assert.ok(await eventually(arrived, 5000), `${count} spans of trace ${traceId}, the server span among them, reached the receiver (got ${mine().length})`);
  return mine();
}

let issuer: TestIssuer;
let upstream: TestUpstream;
let receiver: OtlpReceiver;

before(async () => {
  issuer = await startTestIssuer('items-api');
  upstream = await startUpstream();
  receiver = await startOtlpReceiver();
});

after(async () => {
  await upstream?.close();
  await issuer?.close();
  await receiver?.close();
});

describe('tracing on, incoming context trusted', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config(upstream.url, issuer, { enabled: true, endpoint: receiver.url, export_interval_ms: 50, service_name: 'edge', trust_incoming: 'always', headers: { authorization: '${env:OTLP_AUTH}' } }), {
      files: { 'items.yaml': SPEC },
      env: { ...process.env, OTLP_AUTH: 'Bearer collector-secret' },
    });
  });
  after(() => gw?.close());

  test('a request continues the caller\'s trace: server span → stage spans and upstream span → the upstream', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const token = await issuer.sign({ sub: 'alice' });
    const res = await send(gw.url, '/items/do-not-trace', {
      headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'vendor=abc,other=1' },
    });
    assert.equal(res.status, 200);

    const up = upstreamTrace(upstream);
    assert.equal(up.traceId, traceId, 'the upstream continues the same trace');
    assert.notEqual(up.parentId, callerSpan, 'the upstream\'s parent is the gateway\'s span, not the caller\'s');
    assert.ok(up.sampled);
    assert.equal(up.tracestate, 'vendor=abc,other=1', 'tracestate is carried on');

    const spans = await spansOf(receiver, traceId, 4);
    const server = spans.find((s) => s.kind === 2)!;
    assert.ok(server, 'one server span');
    assert.equal(server.parentSpanId, callerSpan, 'the server span is a child of the caller\'s span');
    assert.equal(server.name, 'GET /items/{id}');
    assert.equal(server.attributes['http.route'], '/items/{id}');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['rampart.decision'], 'allow');
    assert.equal(server.attributes['rampart.operation_id'], 'getItem');
    assert.equal(server.attributes['rampart.auth.method'], 'jwt');
    assert.equal(server.resource['service.name'], 'edge');
    assert.equal(typeof server.attributes['rampart.request_id'], 'string');

    const authenticate = spans.find((s) => s.name === 'authenticate');
    assert.ok(authenticate, 'the authenticate stage has its span');
    assert.equal(authenticate.parentSpanId, server.spanId);
    assert.ok(spans.some((s) => s.name === 'validate' && s.parentSpanId === server.spanId), 'the validate stage has its span');
    const upstreamSpan = spans.find((s) => s.name === 'upstream')!;
    assert.equal(upstreamSpan.kind, 3, 'the upstream call is a client span');
    assert.equal(upstreamSpan.parentSpanId, server.spanId);
    assert.equal(upstreamSpan.spanId, up.parentId, 'the traceparent sent upstream names the upstream span');
    assert.equal(upstreamSpan.attributes['http.response.status_code'], 200);
    assert.ok(spans.some((s) => s.name === 'response' && s.parentSpanId === server.spanId), 'the response stages have their span');

    const text = JSON.stringify(spans);
    assert.ok(!text.includes('do-not-trace') && !text.includes(token), 'no raw path or credential in any span');

    await eventually(() => gw.logs.some((l) => l['log'] === 'access' && l['traceId'] === traceId));
    assert.ok(gw.logs.some((l) => l['log'] === 'access' && l['traceId'] === traceId), 'the access log line carries the trace id');
    await gw.gateway.monitor.audit!.log.flush();
    const audited = await gw.gateway.monitor.audit!.store.search({ type: 'auth.success' });
    assert.ok(audited.some((r) => r.fields['traceId'] === traceId), 'the audit record carries the trace id');
    assert.equal(receiver.exports.at(-1)!['authorization'], 'Bearer collector-secret', 'the exporter sends the configured header');
  });

  test('a denied request: the server span says deny with its code, the stage span carries it, nothing goes upstream', async () => {
    const traceId = hex(16);
    const before = upstream.seen.length;
    const res = await send(gw.url, '/items/1', { headers: { authorization: 'Bearer not-a-token', traceparent: `00-${traceId}-${hex(8)}-01` } });
    assert.equal(res.status, 401);
    assert.equal(upstream.seen.length, before);
    const spans = await spansOf(receiver, traceId, 2);
    const server = spans.find((s) => s.kind === 2)!;
    assert.equal(server.attributes['rampart.decision'], 'deny');
    assert.equal(server.attributes['http.response.status_code'], 401);
    assert.equal(server.attributes['rampart.denied_by'], 'authenticate');
    assert.equal(server.status, 0, 'a 4xx is not a server error');
    const authenticate = spans.find((s) => s.name === 'authenticate')!;
    assert.equal(authenticate.attributes['rampart.error_code'], problemOf(res.json()).code);
    assert.ok(!spans.some((s) => s.name === 'upstream'));
  });

  test('an upstream failure is an error on the upstream and server spans', async () => {
    const dead = await startGateway(
      config('http://127.0.0.1:9', issuer, { enabled: true, endpoint: receiver.url, export_interval_ms: 50, trust_incoming: 'always' }),
      { files: { 'items.yaml': SPEC } },
    );
    try {
      const traceId = hex(16);
      const res = await send(dead.url, '/health', { headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
      assert.equal(res.status, 503);
      const spans = await spansOf(receiver, traceId, 2);
      assert.equal(spans.find((s) => s.kind === 2)!.status, 2);
      const upstreamSpan = spans.find((s) => s.name === 'upstream')!;
      assert.equal(upstreamSpan.status, 2);
      assert.equal(upstreamSpan.attributes['rampart.error_code'], 'upstream_unavailable');
    } finally {
      await dead.close();
    }
  });

  test('forged, malformed, repeated and oversized trace headers start a fresh trace and never break the request', async () => {
    const bad: Record<string, string | string[]>[] = [
      { traceparent: `00-${'0'.repeat(32)}-${hex(8)}-01` }, // all-zero trace id is invalid
      { traceparent: `00-${hex(16)}-${'0'.repeat(16)}-01` }, // all-zero span id is invalid
      { traceparent: `ff-${hex(16)}-${hex(8)}-01` }, // version ff is forbidden
      { traceparent: 'garbage' },
      { traceparent: `00-${hex(16).toUpperCase()}-${hex(8)}-01` },
      { traceparent: [`00-${hex(16)}-${hex(8)}-01`, `00-${hex(16)}-${hex(8)}-01`] }, // repeated header
      { traceparent: `00-${hex(16)}-${hex(8)}-01\u0000` },
      { traceparent: `00-${hex(16)}-${hex(8)}-01`, tracestate: Array.from({ length: 600 }, (_, i) => `k${i}=${'v'.repeat(4)}`).join(',') },
    ];
    for (const headers of bad) {
      const sentTrace = typeof headers['traceparent'] === 'string' ? TRACE_HEADER.exec(headers['traceparent'])?.[1] : undefined;
      const res = await send(gw.url, '/health', { headers: headers as Record<string, string> }).catch((error: unknown) => ({ status: 0, error }));
      if (res.status === 0) continue; // Node's client refuses to send a NUL byte; nothing to test then.
      assert.equal(res.status, 200, `request with ${JSON.stringify(headers).slice(0, 80)} answered`);
      const up = upstreamTrace(upstream);
      if (headers['tracestate'] !== undefined) {
        assert.equal(up.traceId, sentTrace, 'a valid traceparent with a huge tracestate is continued');
        assert.ok(String(up.tracestate).length <= 512, `tracestate forwarded is capped at 512 chars (got ${String(up.tracestate).length})`);
      } else {
        assert.notEqual(up.traceId, sentTrace, 'an invalid context is not continued');
        assert.notEqual(up.traceId, '0'.repeat(32));
      }
    }
  });
});

describe('tracing on, incoming context not trusted', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(config(upstream.url, issuer, { enabled: true, endpoint: receiver.url, export_interval_ms: 50, trust_incoming: 'trusted_proxies', sample_ratio: 0 }), {
      files: { 'items.yaml': SPEC },
    });
  });
  after(() => gw?.close());

  test('a client (not a trusted proxy) cannot join, force sampling of, or pass tracestate through the gateway\'s trace', async () => {
    const forged = hex(16);
    const res = await send(gw.url, '/health', { headers: { traceparent: `00-${forged}-${hex(8)}-01`, tracestate: 'evil=1' } });
    assert.equal(res.status, 200);
    const up = upstreamTrace(upstream);
    assert.notEqual(up.traceId, forged, 'a new trace, not the client\'s');
    assert.equal(up.sampled, false, 'sample_ratio 0: the client\'s sampled flag does not force a recording');
    assert.equal(up.tracestate, undefined, 'the client\'s tracestate is not forwarded');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.spans.filter((s) => s.traceId === up.traceId || s.traceId === forged).length, 0, 'nothing sampled, nothing exported');
    await eventually(() => gw.logs.some((l) => l['log'] === 'access' && l['traceId'] === up.traceId));
    assert.ok(gw.logs.some((l) => l['log'] === 'access' && l['traceId'] === up.traceId), 'an unsampled request still logs its trace id');
  });
});

describe('tracing: new root traces are linked to an untrusted caller context', () => {
  test('trust_incoming: never links the caller\'s context instead of continuing it', async () => {
    const gw = await startGateway(config(upstream.url, issuer, { enabled: true, endpoint: receiver.url, export_interval_ms: 50, trust_incoming: 'never' }), { files: { 'items.yaml': SPEC } });
    try {
      const forged = hex(16);
      const callerSpan = hex(8);
      assert.equal((await send(gw.url, '/health', { headers: { traceparent: `00-${forged}-${callerSpan}-01` } })).status, 200);
      const up = upstreamTrace(upstream);
      assert.notEqual(up.traceId, forged);
      const [server] = (await spansOf(receiver, up.traceId, 2)).filter((s) => s.kind === 2);
      assert.equal(server!.parentSpanId, '', 'a root span');
      assert.deepEqual(server!.links, [{ traceId: forged, spanId: callerSpan }]);
    } finally {
      await gw.close();
    }
  });
});

describe('tracing off (the default)', () => {
  test('no tracer runs, the client\'s trace headers pass through untouched, no trace id is logged', async () => {
    const gw = await startGateway(config(upstream.url, issuer, undefined), { files: { 'items.yaml': SPEC } });
    try {
      assert.equal(gw.gateway.handler.tracing, undefined);
      const traceparent = `00-${hex(16)}-${hex(8)}-01`;
      assert.equal((await send(gw.url, '/health', { headers: { traceparent, tracestate: 'a=1' } })).status, 200);
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.headers['traceparent'], traceparent);
      assert.equal(seen.headers['tracestate'], 'a=1');
      await eventually(() => gw.logs.some((l) => l['log'] === 'access'));
      assert.ok(gw.logs.filter((l) => l['log'] === 'access').every((l) => !('traceId' in l)));
    } finally {
      await gw.close();
    }
  });
});

describe('tracing: a collector that is down', () => {
  test('requests are served as usual and the failure is logged, not repeated per export', async () => {
    receiver.down = true;
    const gw = await startGateway(config(upstream.url, issuer, { enabled: true, endpoint: receiver.url, export_interval_ms: 20, export_timeout_ms: 500 }), { files: { 'items.yaml': SPEC } });
    try {
      for (let i = 0; i < 20; i++) assert.equal((await send(gw.url, '/health')).status, 200);
      await eventually(() => gw.logs.some((l) => l['component'] === 'tracing'), 3000);
      await new Promise((r) => setTimeout(r, 300));
      const warnings = gw.logs.filter((l) => l['component'] === 'tracing');
      assert.ok(warnings.length >= 1, 'the export failure is logged');
      assert.ok(warnings.length <= 3, `export failures are not logged once per export (got ${warnings.length})`);
    } finally {
      receiver.down = false;
      await gw.close();
    }
  });
});

describe('tracing config', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['enabled without an endpoint', { enabled: true }, /tracing\.endpoint.*required/],
    ['plain HTTP to another host', { enabled: true, endpoint: 'http://collector.example:4318/v1/traces' }, /tracing\.endpoint.*plain HTTP/],
    ['a credential in the URL', { enabled: true, endpoint: 'https://user:pw@collector.example/v1/traces' }, /tracing\.endpoint.*literal credential/],
    ['a literal header value', { enabled: true, endpoint: 'https://collector.example/v1/traces', headers: { authorization: 'Bearer x' } }, /tracing\.headers\.authorization.*literal secret/],
    ['a ratio over 1', { enabled: true, endpoint: 'https://collector.example/v1/traces', sample_ratio: 2 }, /tracing\.sample_ratio/],
  ];
  for (const [name, tracing, message] of cases) {
    test(`start-up stops on ${name}, naming the config path`, async () => {
      await assert.rejects(startGateway(config(upstream.url, issuer, tracing), { files: { 'items.yaml': SPEC } }), (error: Error) => {
        assert.match(error.message, message);
        return true;
      });
    });
  }
  test('plain HTTP to another host is accepted with insecure: true', () => {
    const yaml = stringify({ ...config('http://127.0.0.1:1', issuer, { enabled: true, endpoint: 'http://collector.example:4318/v1/traces', insecure: true }), listen: { http: { port: 0, host: '127.0.0.1', insecure: true } }, apis: [{ name: 'p', passthrough: true, upstream: 'main' }] });
    assert.equal(loadConfigText(yaml, '/tmp/rampart.yaml').config.tracing.insecure, true);
  });
});
