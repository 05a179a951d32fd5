import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentialOf, IdentityError, loadIdentityFile, resolveIdentity, resolveRefs, valueAtPointer } from './identity.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-scan-identity-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
// A token whose claims name the subject and tenant (the signature is irrelevant: the scanner reads its own token).
const TOKEN = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('{"sub":"u-9","tenant":"t-1"}').toString('base64url')}.c2ln`;

let server: Server;
let loginUrl: string;
const seen: { type: string | undefined; body: string }[] = [];
before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ type: req.headers['content-type'], body });
      const ok = body.includes('right-password');
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { data: { token: TOKEN } } : { error: 'nope' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  loginUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/login`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('each credential kind loads; an API key defaults to a header', () => {
  assert.equal(loadIdentityFile(file('a.yaml', 'name: a\nrole: admin\ncredential:\n  bearer: abc\n')).credential.bearer, 'abc');
  assert.deepEqual(loadIdentityFile(file('b.yaml', 'name: b\ncredential:\n  api_key: { name: X-API-Key, value: k }\n')).credential.api_key, { in: 'header', name: 'X-API-Key', value: 'k' });
  assert.equal(loadIdentityFile(file('c.yaml', `name: c\ncredential:\n  login: { url: /login, json: { user: c }, token: /t }\n`)).credential.login?.url, '/login');
});

test('invalid identity files name the file and the problem', () => {
  const cases: [string, RegExp][] = [
    ['name: a\n', /must have required property 'credential'/],
    ['name: a\ncredential: { bearer: x, api_key: { name: k, value: v } }\n', /credential must NOT have more than 1 properties/],
    ['name: a\ncredential: { login: { url: /x, token: /t } }\n', /credential\.login needs exactly one of form or json/],
    ['name: "a b"\ncredential: { bearer: x }\n', /name must match pattern/],
    ['name: a\ncredential: { bearer: x }\nextra: 1\n', /must NOT have additional properties "extra"/],
    ['name: a\ncredential: [oops\n', /cannot be read as YAML/],
  ];
  for (const [text, message] of cases) {
    const path = file('bad.yaml', text);
    assert.throws(() => loadIdentityFile(path), (error: Error) => error instanceof IdentityError && error.message.startsWith(path) && message.test(error.message));
  }
});

test('${env:} and ${file:} references; a missing one is an error that names it, not its value', () => {
  file('secret.txt', 'from-file\n');
  const idFile = join(dir, 'x.yaml');
  assert.equal(resolveRefs('a-${env:SCAN_T}-${file:secret.txt}', idFile, { SCAN_T: 'e' }), 'a-e-from-file');
  assert.throws(() => resolveRefs('${env:NOPE}', idFile, {}), /environment variable NOPE is not set/);
  assert.throws(() => resolveRefs('${file:nope.txt}', idFile, {}), /cannot read nope\.txt/);
});

test('JSON pointers and field names', () => {
  assert.equal(valueAtPointer({ a: { 'b/c': [1, 'x'] } }, '/a/b~1c/1'), 'x');
  assert.equal(valueAtPointer({ access_token: 't' }, 'access_token'), 't');
  assert.equal(valueAtPointer({ a: 1 }, '/a/b'), undefined);
});

test('a login identity posts its form, takes the token at the pointer, and reads subject and tenant from it', async () => {
  const config = loadIdentityFile(file('login.yaml', `name: l\ncredential:\n  login:\n    url: ${loginUrl}\n    form: { grant_type: password, username: l, password: "\${env:PW}" }\n    token: /data/token\n`));
  const identity = await resolveIdentity(config, new URL('http://127.0.0.1:1'), { PW: 'right-password' });
  assert.equal(identity.token, TOKEN);
  assert.equal(identity.subject, 'u-9');
  assert.equal(identity.tenant, 't-1');
  assert.deepEqual([...identity.secrets].sort(), [TOKEN, 'right-password'].sort(), 'the password is a secret to mask; grant_type is not');
  assert.equal(seen.at(-1)?.type, 'application/x-www-form-urlencoded');
  assert.match(seen.at(-1)?.body ?? '', /grant_type=password&username=l&password=right-password/);
  await assert.rejects(resolveIdentity(config, new URL('http://127.0.0.1:1'), { PW: 'wrong' }), (error: Error) => /answered 401/.test(error.message) && !error.message.includes('wrong'));
  const json = loadIdentityFile(file('json.yaml', `name: j\ncredential:\n  login: { url: ${loginUrl}, json: { password: right-password }, token: /data/missing }\n`));
  await assert.rejects(resolveIdentity(json, new URL('http://127.0.0.1:1'), {}), /no string at \/data\/missing/);
  assert.equal(seen.at(-1)?.type, 'application/json');
});

test('credentials go in the Authorization header, an API key header, or the query', async () => {
  const target = new URL('http://127.0.0.1:1');
  const bearer = await resolveIdentity(loadIdentityFile(file('b1.yaml', `name: b\ncredential: { bearer: ${TOKEN} }\n`)), target, {});
  assert.deepEqual(credentialOf(bearer), { headers: { authorization: `Bearer ${TOKEN}` }, query: '' });
  const header = await resolveIdentity(loadIdentityFile(file('k1.yaml', 'name: k\nsubject: svc-1\ncredential: { api_key: { name: X-API-Key, value: "${env:K}" } }\n')), target, { K: 'key-value' });
  assert.deepEqual(credentialOf(header), { headers: { 'x-api-key': 'key-value' }, query: '' });
  assert.equal(header.subject, 'svc-1');
  assert.deepEqual(header.secrets, ['key-value']);
  const query = await resolveIdentity(loadIdentityFile(file('k2.yaml', 'name: q\ncredential: { api_key: { in: query, name: api_key, value: "a b" } }\n')), target, {});
  assert.deepEqual(credentialOf(query), { headers: {}, query: 'api_key=a%20b' });
});
