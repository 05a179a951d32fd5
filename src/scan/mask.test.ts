import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMasker, EXCERPT_CHARS, maskBody, maskHeaders, maskText, maskUrl, MASK } from './mask.ts';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

test('credential headers are masked, the scheme and cookie names kept, other headers untouched', () => {
  const masked = maskHeaders(
    { Authorization: `Bearer ${JWT}`, Cookie: 'sid=abc123; theme=dark', 'set-cookie': ['sid=abc123; Path=/; HttpOnly', 'csrf=zzz; Path=/'], 'X-API-Key': 'k-123456', 'X-Tenant-Key': 'tk-1', 'content-type': 'application/json', 'x-trace': `token ${JWT}` },
    new Set(['x-tenant-key']),
  );
  assert.deepEqual(masked, {
    authorization: `Bearer ${MASK}`,
    cookie: `sid=${MASK}; theme=${MASK}`,
    'set-cookie': `sid=${MASK}; Path=/; HttpOnly\ncsrf=${MASK}; Path=/`,
    'x-api-key': MASK,
    'x-tenant-key': MASK,
    'content-type': 'application/json',
    'x-trace': `token ${MASK}`,
  });
  assert.equal(maskHeaders({ authorization: 'opaque' })['authorization'], MASK);
});

test('credential-like query parameters are masked in URLs', () => {
  assert.equal(maskUrl('/orders?access_token=abc&limit=5&api_key=zz&Key=1'), `/orders?access_token=${MASK}&limit=5&api_key=${MASK}&Key=${MASK}`);
  assert.equal(maskUrl('/orders/ord-1'), '/orders/ord-1');
  assert.equal(maskUrl(`/x?q=${JWT}`), `/x?q=${MASK}`);
});

test('bodies: JWTs, password hashes, private keys, secret-named fields and the scan\'s own secrets', () => {
  const body = JSON.stringify({
    token: JWT,
    user: { passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', note: 'hi' },
    bcrypt: '$2b$10$abcdefghijklmnopqrstuv',
    argon: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g',
    key: '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----',
    tenantSecret: 'acme-signing-secret-4f9c2e7a1b',
    echo: 'my-static-api-key-value',
    empty: '',
  });
  const masked = maskText(body, ['my-static-api-key-value']);
  for (const leaked of ['eyJzdWIi', 'c2FsdA', 'abcdefghijklmnopqrstuv', 'c2FsdHNhbHQ', 'MIIB', 'acme-signing', 'my-static-api-key']) assert.ok(!masked.includes(leaked), `${leaked} in ${masked}`);
  assert.match(masked, /"note":"hi"/);
  assert.match(masked, /"passwordHash":"\*\*\*\*"/);
  assert.match(masked, /"empty":""/);
});

test('an excerpt is masked before it is cut: a secret across the cut never shows half', () => {
  const body = `${'x'.repeat(EXCERPT_CHARS - 20)} ${JWT} ${'y'.repeat(100)}`;
  const excerpt = maskBody(body, []) ?? '';
  assert.ok(!excerpt.includes('eyJhbGci'));
  assert.match(excerpt, /… \(\d+ chars\)$/);
  assert.equal(maskBody('', []), undefined);
});

test('a masker binds the scan\'s secrets and API key header names', () => {
  const m = createMasker(['s3cret-value', 'abc'], ['X-Partner-Auth']);
  assert.equal(m.headers({ 'x-partner-auth': 'v' })['x-partner-auth'], MASK);
  assert.equal(m.body('{"a":"s3cret-value","b":"abc"}'), `{"a":"${MASK}","b":"abc"}`, 'values shorter than 4 characters are not masked everywhere');
  assert.equal(m.url('/p/s3cret-value'), `/p/${MASK}`);
});
