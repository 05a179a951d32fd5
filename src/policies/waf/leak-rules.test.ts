import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { detectLeak } from './leak-rules.ts';

/** One body per rule, as upstreams send them. */
const LEAKING: readonly (readonly [string, string])[] = [
  ['leak-sql-error', '{"error":"You have an error in your SQL syntax; check the manual near \'\'\' at line 1"}'],
  ['leak-sql-error', 'ERROR: syntax error at or near "\'"'],
  ['leak-stack-python', 'Traceback (most recent call last):\n  File "app.py", line 3'],
  ['leak-stack-java', 'java.lang.NullPointerException\n\tat com.shop.Orders.get(Orders.java:42)'],
  ['leak-stack-java', 'Exception in thread "main" java.lang.Error\n    at Main.main(Main.java)'],
  ['leak-stack-node', 'TypeError: x is undefined\n    at handler (/srv/app/index.js:12:5)'],
  ['leak-stack-node', 'Error\n    at <anonymous>'],
  ['leak-stack-php', 'Stack trace:\n#0 /var/www/index.php(12): run()'],
  ['leak-stack-php', 'Fatal error: Uncaught Error in /var/www/index.php on line 7'],
  ['leak-stack-dotnet', '   at System.Data.SqlClient.SqlConnection.OnError()'],
  ['leak-stack-dotnet', 'Stack Trace:\n   at Shop.Orders.Get() in C:\\src\\Orders.cs:line 42'],
  ['leak-stack-ruby', "app/models/order.rb:12:in `find'"],
  ['leak-stack-go', 'panic: runtime error: index out of range\n\ngoroutine 1 [running]:'],
  ['leak-debug-page', '<html><title>Werkzeug Debugger</title>'],
  ['leak-private-key', '-----BEGIN RSA PRIVATE KEY-----\nMIIE'],
  ['leak-aws-access-key', '{"key":"AKIAIOSFODNN7EXAMPLE"}'],
  ['leak-github-token', 'token=ghp_0123456789abcdefghijABCDEFGHIJ012345'],
  ['leak-azure-storage-key', 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=='],
  ['leak-stripe-key', 'sk_live_0123456789abcdefghijklmn'],
];

const BENIGN = [
  '{"id":42,"name":"Trail shoe","description":"Select the size you like; union of comfort and grip."}',
  'Error: order not found',
  '{"items":[{"sku":"AKIA"}],"region":"Asia/Tokyo"}',
  'Stack of plates, #0 in our catalogue',
  'at the end of the line',
  'The fatal error was on line 3 of the poem.',
  '',
];

test('each kind of leak is found, in the body as text or as its UTF-8 bytes', () => {
  for (const [rule, body] of LEAKING) {
    assert.equal(detectLeak(body)?.rule, rule, body);
    assert.equal(detectLeak(Buffer.from(body))?.rule, rule, body);
  }
});

test('phrases match in any case; credential formats only in the case their providers use', () => {
  assert.equal(detectLeak('YOU HAVE AN ERROR IN YOUR SQL SYNTAX')?.rule, 'leak-sql-error');
  assert.equal(detectLeak(Buffer.from('traceBACK (Most Recent Call Last)'))?.rule, 'leak-stack-python');
  assert.equal(detectLeak('-----begin ec private key-----')?.rule, 'leak-private-key');
  assert.equal(detectLeak('{"key":"akiaiosfodnn7example"}'), undefined);
  assert.equal(detectLeak(Buffer.from('{"key":"akiaiosfodnn7example"}')), undefined);
});

test('ordinary bodies, with words from the phrases, are not leaks', () => {
  for (const body of BENIGN) {
    assert.equal(detectLeak(body), undefined, body);
    assert.equal(detectLeak(Buffer.from(body)), undefined, body);
  }
});

test('a phrase broken by a non-ASCII character or split across lines is not found', () => {
  assert.equal(detectLeak('traceback (most recent call lást)'), undefined);
  assert.equal(detectLeak(Buffer.from('traceback (most recent call lást)')), undefined);
  assert.equal(detectLeak('you have an error in your sql\nsyntax'), undefined);
});

test('text and bytes give the same answer on any mix of leak fragments and other characters', () => {
  const pieces = fc.constantFrom(...LEAKING.map(([, body]) => body), 'ñ', '\u560a', '\n', '\t', ' ', 'AKIA', 'x', '😀', '-----BEGIN', 'private KEY-----');
  fc.assert(
    fc.property(fc.array(pieces, { maxLength: 12 }), (parts) => {
      const text = parts.join('');
      assert.deepEqual(detectLeak(Buffer.from(text)), detectLeak(text));
    }),
    { numRuns: 500 },
  );
});
