/**
 * Attacks on OpenTelemetry tracing (src/tracing/ and its wiring in the handler and runner), from a red-team pass:
 * clients that try to force, hide or steer traces, methods and headers that would blow up span names or leak text
 * to the collector, aborts that would raise false upstream errors, and collectors that stall, trickle, blackhole or
 * echo credentials. Every address is loopback; every loop is bounded in count and time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { loadConfigText } from '../src/config/load.ts';
import { startGateway } from './helpers/gateway.ts';
import { startUpstream, type TestUpstream } from './helpers/upstream.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.ts';
import { eventually, ITEMS_SPEC, send } from './helpers/gateway-fixtures.ts';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const traceparent = (flags: '00' | '01' = '01') => {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${flags}` };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A passthrough API (every path goes upstream) with tracing as given. */
function passthrough(upstreamUrl: string, tracing: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    monitor: { enabled: false },
    upstreams: { main: { url: upstreamUrl } },
    apis: [{ name: 'p', passthrough: true, upstream: 'main' }],
    // Most tests follow a client-chosen trace id, so they trust the client; the default is tested on its own.
    tracing: { enabled: true, export_interval_ms: 20, trust_incoming: 'always', ...tracing },
    ...extra,
  };
}

/** A collector on loopback whose behaviour the test chooses; it keeps the raw JSON bodies it got. */
async function startCollector(onBody: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      onBody(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function spansOf(receiver: OtlpReceiver, traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

function h2get(session: ClientHttp2Session, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    stream.on('response', (h) => {
      stream.resume();
      stream.on('end', () => resolve(Number(h[':status'])));
    });
    stream.on('error', reject);
    stream.end();
  });
}

let upstream: TestUpstream;
let receiver: OtlpReceiver;

before(async () => {
  upstream = await startUpstream();
  upstream.handler = (req, res) => {
    const reply = () => {
      if (req.url?.startsWith('/dup-ct')) res.setHeader('content-type', ['application/json', 'text/html']);
      else res.setHeader('content-type', 'application/json');
      res.end('{}');
    };
    if (req.url?.startsWith('/slow')) setTimeout(reply, 1500);
    else reply();
  };
  receiver = await startOtlpReceiver();
});

after(async () => {
  await upstream?.close();
  await receiver?.close();
});

describe('sampling and trust of the incoming context', () => {
  // Found by the red team with the first default (`always`): an internet client's `-01` forced a recording past
  // sample_ratio 0, its `-00` kept its requests out of the backend, and it chose the trace id of the access log.
  test('default trust_incoming (trusted_proxies, none configured): a client can neither force, hide nor choose its trace', async () => {
    const withDefaultTrust = (tracing: Record<string, unknown>) => {
      const config = passthrough(upstream.url, tracing);
      delete (config['tracing'] as Record<string, unknown>)['trust_incoming'];
      return config;
    };
    const rare = await startGateway(withDefaultTrust({ endpoint: receiver.url, sample_ratio: 0 }));
    const full = await startGateway(withDefaultTrust({ endpoint: receiver.url }));
    try {
      const forced = traceparent('01');
      assert.equal((await send(rare.url, '/forced', { headers: { traceparent: forced.header } })).status, 200);
      assert.notEqual(String(upstream.seen.at(-1)!.headers['traceparent']).split('-')[1], forced.traceId, 'a new trace, not the client\'s');
      assert.match(String(upstream.seen.at(-1)!.headers['traceparent']), /-00$/, 'sample_ratio 0 holds: not sampled');

      const hidden = traceparent('00');
      assert.equal((await send(full.url, '/hidden', { headers: { traceparent: hidden.header } })).status, 200);
      const own = String(upstream.seen.at(-1)!.headers['traceparent']).split('-')[1]!;
      assert.notEqual(own, hidden.traceId);
      assert.ok(await eventually(() => spansOf(receiver, own).some((s) => s.kind === 2), 3000), 'sample_ratio 1 holds: the request is recorded despite -00');
      assert.deepEqual(spansOf(receiver, own).find((s) => s.kind === 2)!.links, [{ traceId: hidden.traceId, spanId: hidden.spanId }], 'linked to what the client sent');
      assert.ok(await eventually(() => full.logs.some((l) => l['log'] === 'access' && l['traceId'] === own)), 'the access log records the gateway\'s trace id');
      await sleep(200);
      assert.equal(spansOf(receiver, forced.traceId).length + spansOf(receiver, hidden.traceId).length, 0, 'nothing recorded under a client-chosen trace id');
    } finally {
      await rare.close();
      await full.close();
    }
  });

  // Documented (docs/tracing.md, tracing.trust_incoming): a trusted proxy's trace context is believed as it arrives,
  // so a load balancer that relays its clients' traceparent unchanged relays their choice too. It must set or strip
  // the header; this pins that the gateway does not second-guess it.
  test('trusted_proxies: what a trusted proxy relays is believed (the proxy must set or strip traceparent)', async () => {
    const gw = await startGateway(passthrough(upstream.url, { endpoint: receiver.url, sample_ratio: 0, trust_incoming: 'trusted_proxies' }, { trusted_proxies: ['127.0.0.1'] }));
    try {
      const forged = traceparent('01');
      // The test client plays "load balancer relaying an internet client's headers".
      assert.equal((await send(gw.url, '/x', { headers: { traceparent: forged.header, 'x-forwarded-for': '203.0.113.7' } })).status, 200);
      assert.ok(await eventually(() => spansOf(receiver, forged.traceId).some((s) => s.kind === 2), 3000), 'forced into the recording');
      const server = spansOf(receiver, forged.traceId).find((s) => s.kind === 2)!;
      assert.equal(server.attributes['client.address'], '203.0.113.7', 'the gateway knew the client is not a trusted proxy');
      assert.equal(server.parentSpanId, forged.spanId, 'and still joined the client-chosen trace');
    } finally {
      await gw.close();
    }
  });

  // Found by the red team: the link to an untrusted context carried the client's tracestate text to the collector.
  test('trust_incoming: never: the client\'s tracestate goes neither upstream nor to the collector', async () => {
    const collector = await startCollector((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const gw = await startGateway(passthrough(upstream.url, { endpoint: collector.url, trust_incoming: 'never' }));
    try {
      const marker = `sess=client-text-${hex(6)}`;
      assert.equal((await send(gw.url, '/x', { headers: { traceparent: traceparent().header, tracestate: marker } })).status, 200);
      assert.equal(upstream.seen.at(-1)!.headers['tracestate'], undefined, 'not forwarded upstream (held)');
      assert.ok(await eventually(() => collector.bodies.some((b) => b.includes('"kind":2')), 3000));
      assert.ok(collector.bodies.join('\n').includes('"links":[{'), 'the server span links the caller\'s context');
      assert.ok(!collector.bodies.join('\n').includes(marker), 'but not its tracestate text');
    } finally {
      await gw.close();
      await collector.close();
    }
  });
});

describe('what a span carries', () => {
  // Found by the red team: an HTTP/2 client's 8000-character :method became the span name and an attribute
  // (unbounded span-name cardinality, ~16 KiB per queued span).
  test('HTTP/2: an unknown :method is `_OTHER` in a span named `HTTP`, as the HTTP conventions say', async () => {
    const gw = await startGateway(passthrough(upstream.url, { endpoint: receiver.url }), { tls: true });
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    try {
      const method = `X${'A'.repeat(7999)}`;
      const tp = traceparent();
      assert.equal(await h2get(session, { ':method': method, ':path': '/x', traceparent: tp.header }), 405);
      assert.ok(await eventually(() => spansOf(receiver, tp.traceId).some((s) => s.kind === 2), 3000));
      const server = spansOf(receiver, tp.traceId).find((s) => s.kind === 2)!;
      assert.equal(server.name, 'HTTP');
      assert.equal(server.attributes['http.request.method'], '_OTHER');
      assert.ok(!JSON.stringify(spansOf(receiver, tp.traceId)).includes('AAAAAAAA'), 'the method text is nowhere in the trace');
    } finally {
      session.close();
      await gw.close();
    }
  });

  // Found by the red team: a client hanging up mid-upstream made the `upstream` span an ERROR (upstream_unavailable),
  // so any client could drive upstream error-rate alerts.
  test('a client abort mid-upstream is not an upstream error', async () => {
    const gw = await startGateway(passthrough(upstream.url, { endpoint: receiver.url }));
    try {
      const tp = traceparent();
      const url = new URL(gw.url);
      await new Promise<void>((resolve) => {
        const req = httpRequest({ host: url.hostname, port: url.port, path: '/slow', headers: { traceparent: tp.header }, agent: false });
        req.on('error', () => resolve());
        req.end();
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 300);
      });
      assert.ok(await eventually(() => spansOf(receiver, tp.traceId).some((s) => s.name === 'upstream'), 5000));
      const spans = spansOf(receiver, tp.traceId);
      const server = spans.find((s) => s.kind === 2)!;
      const up = spans.find((s) => s.name === 'upstream')!;
      assert.equal(server.attributes['http.response.status_code'], 499);
      assert.equal(server.status, 0, 'the server span is not an error');
      assert.equal(up.status, 0, 'nor is the upstream span');
      assert.equal(up.attributes['rampart.error_code'], undefined);
      assert.equal(up.attributes['rampart.client_gone'], 1);
    } finally {
      await gw.close();
    }
  });
});

describe('span lifecycle', () => {
  // Found by the red team: an upstream repeating Content-Type made HTTP/2's writeHead throw while the response was
  // written, which left the `response` span un-ended. The repeat is refused before that now (a 502 from the proxy).
  test('an upstream repeating Content-Type: 502 over HTTP/2, and every span of the request ends', async () => {
    const gw = await startGateway(passthrough(upstream.url, { endpoint: receiver.url }), { tls: true });
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    try {
      const broken = traceparent();
      assert.equal(await h2get(session, { ':method': 'GET', ':path': '/dup-ct', traceparent: broken.header }), 502);
      assert.ok(await eventually(() => spansOf(receiver, broken.traceId).some((s) => s.kind === 2), 3000));
      const up = spansOf(receiver, broken.traceId).find((s) => s.name === 'upstream');
      assert.equal(up?.attributes['rampart.error_code'], 'upstream_invalid_response');
      assert.equal(spansOf(receiver, broken.traceId).find((s) => s.kind === 2)!.status, 2);
    } finally {
      session.close();
      await gw.close();
    }
  });

  // Held up: every early exit ends the server span with the right status, and an aborted request still ends its
  // stage and upstream spans (HEAD, CORS preflight allowed/refused, 404, 405, HTTP/1 abort, HTTP/2 RST_STREAM).
  test('HEAD, preflight, 404, 405, client abort and HTTP/2 stream reset all end the server span', async () => {
    const gw = await startGateway(
      {
        monitor: { enabled: false },
        upstreams: { main: { url: upstream.url } },
        apis: [{ name: 'items', spec: './items.yaml', upstream: 'main', cors: { allow_origins: ['https://app.example'] } }],
        tracing: { enabled: true, endpoint: receiver.url, export_interval_ms: 20, trust_incoming: 'always' },
      },
      { tls: true, files: { 'items.yaml': ITEMS_SPEC } },
    );
    const session = h2connect(gw.url, { rejectUnauthorized: false });
    try {
      const cases: [string, string, string, Record<string, string>, number][] = [
        ['head', 'HEAD', '/items/1', {}, 200],
        ['preflight', 'OPTIONS', '/items/1', { origin: 'https://app.example', 'access-control-request-method': 'GET' }, 204],
        ['preflight-refused', 'OPTIONS', '/items/1', { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, 403],
        ['404', 'GET', '/nope', {}, 404],
        ['405', 'PUT', '/items/1', {}, 405],
      ];
      const ids: Record<string, [string, number]> = {};
      for (const [name, method, path, headers, status] of cases) {
        const tp = traceparent();
        ids[name] = [tp.traceId, status];
        assert.equal((await send(gw.url, path, { method, headers: { ...headers, traceparent: tp.header } })).status, status, name);
      }
      const reset = traceparent();
      ids['h2-reset'] = [reset.traceId, 499];
      const stream = session.request({ ':method': 'GET', ':path': '/slow', traceparent: reset.header });
      stream.on('error', () => undefined);
      stream.end();
      await sleep(300);
      stream.close(8 /* CANCEL */);
      for (const [name, [traceId, status]] of Object.entries(ids)) {
        assert.ok(await eventually(() => spansOf(receiver, traceId).some((s) => s.kind === 2), 3000), `${name}: server span exported`);
        assert.equal(spansOf(receiver, traceId).find((s) => s.kind === 2)!.attributes['http.response.status_code'], status, name);
      }
      assert.ok(await eventually(() => spansOf(receiver, reset.traceId).some((s) => s.name === 'upstream'), 4000), 'the reset request\'s upstream span ended too');
      assert.equal(gw.gateway.handler.inFlight, 0);
    } finally {
      session.close();
      await gw.close();
    }
  });
});

describe('a collector that misbehaves', () => {
  // Found by the red team: a collector that answers and then trickles bytes kept each export open for good (the
  // exporter's timeout is an idle timeout), exports piled up to many times max_queue, and Gateway.stop() never
  // finished. Now: one export at a time, each with a deadline after which its connection is cut.
  test('a trickling collector: at most one batch is held, and stop() finishes', async () => {
    const held = new Map<ServerResponse, number>();
    const collector = await startCollector((_req, res, body) => {
      held.set(res, (body.match(/"spanId"/g) ?? []).length);
      res.on('close', () => held.delete(res));
      res.writeHead(200, { 'content-type': 'application/json' });
    });
    const drip = setInterval(() => {
      for (const res of held.keys()) res.write(' ');
    }, 50);
    const gw = await startGateway(passthrough(upstream.url, { endpoint: collector.url, export_interval_ms: 10, export_timeout_ms: 200, max_queue: 64 }));
    try {
      let mostExports = 0;
      let mostSpans = 0;
      for (let i = 0; i < 400; i++) {
        assert.equal((await send(gw.url, `/r${i}`)).status, 200, 'requests are served');
        mostExports = Math.max(mostExports, held.size);
        mostSpans = Math.max(mostSpans, [...held.values()].reduce((a, b) => a + b, 0));
        if (i % 50 === 49) await sleep(100);
      }
      assert.ok(collector.bodies.length >= 2, 'exports were attempted');
      assert.ok(mostExports <= 1, `one export open at a time (saw ${mostExports})`);
      assert.ok(mostSpans <= 64, `spans held in open exports stay within max_queue (saw ${mostSpans})`);
      await sleep(300);
      const started = Date.now();
      await gw.close();
      assert.ok(Date.now() - started < 3000, `stop() finished in ${Date.now() - started} ms with the collector still trickling`);
      assert.ok(gw.logs.some((l) => l['msg'] === 'rampart stopped'));
    } finally {
      clearInterval(drip);
      for (const res of held.keys()) res.destroy();
      await collector.close();
    }
  });

  // Found by the red team: a blackhole collector (accepts, never answers) delayed stop() by export_timeout_ms before
  // the audit log and control plane were closed. Tracing is flushed last now, for at most 2 s.
  test('a blackhole collector: requests are not delayed, and stop() waits at most 2 s for it', async () => {
    const sockets = new Set<Socket>();
    const blackhole = createNetServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read and drop the request, so the socket sees the gateway's side close
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(blackhole.address() as AddressInfo).port}/v1/traces`;
    const gw = await startGateway(passthrough(upstream.url, { endpoint, export_interval_ms: 10, export_timeout_ms: 30_000 }));
    try {
      for (let i = 0; i < 10; i++) await send(gw.url, '/warm');
      await sleep(100);
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        assert.equal((await send(gw.url, '/x')).status, 200);
        latencies.push(Date.now() - started);
      }
      assert.ok(Math.max(...latencies) < 500, `requests are not held by the stuck export (${latencies.join(', ')} ms)`);
      const started = Date.now();
      await gw.close();
      const took = Date.now() - started;
      assert.ok(took < 3500, `stop() bounded its wait for the collector (${took} ms; export_timeout_ms is 30 s)`);
      assert.ok(gw.logs.some((l) => String(l['msg']).startsWith('tracing: spans still queued')), 'the unexported spans are reported');
      assert.ok(await eventually(() => sockets.size === 0, 1000), 'the connection to the collector is cut (it would keep the process alive)');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    }
  });

  // Found by the red team: a failed export was logged with the collector's response body, which may echo the
  // credential it refused.
  test('the collector\'s error response body never reaches the gateway log', async () => {
    const secret = 'Bearer s3cr3t';
    const collector = await startCollector((req, res) => res.writeHead(401, { 'content-type': 'text/plain' }).end(String(req.headers['authorization'])));
    const gw = await startGateway(passthrough(upstream.url, { endpoint: collector.url, headers: { authorization: '${env:OTLP_AUTH}' } }), {
      env: { ...process.env, OTLP_AUTH: secret },
    });
    try {
      assert.equal((await send(gw.url, '/x')).status, 200);
      assert.ok(await eventually(() => gw.logs.some((l) => l['component'] === 'tracing'), 3000));
      assert.match(String(gw.logs.find((l) => l['component'] === 'tracing')!['msg']), /export failed: .*401/);
      assert.ok(!gw.rawLogs().includes('s3cr3t'), 'what the collector echoed is not logged');
    } finally {
      await gw.close();
      await collector.close();
    }
  });
});

describe('config checks', () => {
  // Found by the red team: isLoopbackHost took any name starting with "127." (`127.0.0.1.nip.io`) for loopback. The
  // helper also guards identity-provider URLs and listen.http.insecure.
  test('a DNS name starting with "127." is not loopback: plain HTTP to it is refused', () => {
    for (const endpoint of ['http://127.0.0.1.nip.io:4318/v1/traces', 'http://127.collector.example.com:4318/v1/traces']) {
      const yaml = stringify({
        listen: { http: { port: 0, host: '127.0.0.1', insecure: true } },
        monitor: { enabled: false },
        upstreams: { main: { url: 'http://127.0.0.1:1' } },
        apis: [{ name: 'p', passthrough: true, upstream: 'main' }],
        tracing: { enabled: true, endpoint },
      });
      assert.throws(() => loadConfigText(yaml, '/tmp/rampart.yaml'), /tracing\.endpoint.*plain HTTP/, endpoint);
    }
  });
});

describe('held up: header handling', () => {
  test('tracestate reaching the upstream holds only validated members; no header can be smuggled through it', async () => {
    const gw = await startGateway(passthrough(upstream.url, { endpoint: receiver.url }));
    try {
      const tp = traceparent();
      const tracestate = 'good=1,BAD=2,x-forwarded-for=1.2.3.4,evil=a=b,sp ace=1,ok=v;w x,' + 'k=' + 'v'.repeat(300);
      assert.equal((await send(gw.url, '/x', { headers: { traceparent: tp.header, tracestate, 'x-request-id': 'abcdefgh-1' } })).status, 200);
      const seen = upstream.seen.at(-1)!.headers;
      assert.equal(seen['tracestate'], 'good=1,x-forwarded-for=1.2.3.4,ok=v;w x', 'invalid members dropped, order kept');
      assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'a tracestate member is not a header');
      assert.match(String(seen['traceparent']), new RegExp(`^00-${tp.traceId}-[0-9a-f]{16}-01$`));
      assert.notEqual(String(seen['traceparent']).split('-')[2], tp.spanId, 'the client\'s span id is replaced');
    } finally {
      await gw.close();
    }
  });

  test('tracing off: the gateway handler has no tracer and trace headers pass through byte for byte', async () => {
    const gw = await startGateway({ monitor: { enabled: false }, upstreams: { main: { url: upstream.url } }, apis: [{ name: 'p', passthrough: true, upstream: 'main' }] });
    try {
      assert.equal(gw.gateway.handler.tracing, undefined);
      const header = 'garbage-not-a-traceparent';
      assert.equal((await send(gw.url, '/x', { headers: { traceparent: header, tracestate: 'BAD KEY=1' } })).status, 200);
      assert.equal(upstream.seen.at(-1)!.headers['traceparent'], header);
      assert.equal(upstream.seen.at(-1)!.headers['tracestate'], 'BAD KEY=1');
    } finally {
      await gw.close();
    }
  });
});
