import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createFlatChild, createLogger } from './log.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('createFlatChild redacts secret-named top-level fields and keeps the bindings', () => {
  const out = capture();
  const log = createFlatChild(createLogger({ destination: out.stream }), { log: 'access' });
  log.info({ token: 'tok-secret', authorization: 'Bearer abc', 'x-api-key': 'k-secret', password: 'pw', status: 200 }, 'request');
  const [line] = out.lines();
  assert.equal(line!['log'], 'access');
  assert.equal(line!['status'], 200);
  for (const field of ['token', 'authorization', 'x-api-key', 'password']) assert.equal(line![field], '[redacted]', field);
  assert.doesNotMatch(JSON.stringify(line), /secret|Bearer abc|"pw"/);
});

test('the root logger still redacts nested secrets (the flat child does not change it)', () => {
  const out = capture();
  const root = createLogger({ destination: out.stream });
  createFlatChild(root, { log: 'access' });
  root.info({ req: { headers: { authorization: 'Bearer abc' } }, nested: { token: 'tok-secret' } }, 'x');
  assert.doesNotMatch(JSON.stringify(out.lines()[0]), /Bearer abc|tok-secret/);
});
