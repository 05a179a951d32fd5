import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createFlatChild, createLineWriter, createLogger } from './log.ts';

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

const turn = () => new Promise((resolve) => setImmediate(resolve));

test('createLineWriter writes the line pino would write: level, time, bindings, fields, msg; undefined omitted', async () => {
  const viaWriter = capture();
  const viaPino = capture();
  const fields = { requestId: 'r-1', status: 200, latencyMs: 1.5, code: undefined, reason: 'quote " and \n newline' };
  createLineWriter(createLogger({ destination: viaWriter.stream }).child({ worker: 2 }), { log: 'access' }, 'request')({ ...fields });
  createLogger({ destination: viaPino.stream }).child({ worker: 2 }).child({ log: 'access' }).info({ ...fields }, 'request');
  await turn();
  const [written] = viaWriter.lines();
  const [reference] = viaPino.lines();
  assert.match(String(written!['time']), /^\d{4}-\d\d-\d\dT/);
  delete written!['time'];
  delete reference!['time'];
  assert.deepEqual(written, reference);
  assert.deepEqual(Object.keys(written!), Object.keys(reference!), 'same field order');
  assert.equal('code' in written!, false);
});

test('createLineWriter: secret-named fields are redacted, and nothing is written below the level', async () => {
  const out = capture();
  const write = createLineWriter(createLogger({ destination: out.stream }), { log: 'access' }, 'request');
  write({ status: 200, token: undefined });
  write({ status: 401, token: 'tok-secret', Authorization: 'Bearer abc' });
  await turn();
  assert.doesNotMatch(JSON.stringify(out.lines()), /tok-secret|Bearer abc/);
  assert.equal(out.lines()[1]!['token'], '[redacted]', 'checked on every line, not only the first');
  const quiet = capture();
  createLineWriter(createLogger({ level: 'warn', destination: quiet.stream }), { log: 'access' }, 'request')({ status: 200 });
  await turn();
  assert.equal(quiet.lines().length, 0);
  assert.throws(() => createLineWriter(createLogger({ destination: quiet.stream }), { password: 'x' }, 'm'), /redacted field/);
});

test('createLineWriter: the lines of one turn are written together, in order, at the end of the turn', async () => {
  const out = capture();
  const write = createLineWriter(createLogger({ destination: out.stream }), { log: 'access' }, 'request');
  for (let i = 0; i < 600; i++) write({ n: i });
  await turn();
  assert.deepEqual(out.lines().map((l) => l['n']), Array.from({ length: 600 }, (_, i) => i));
});
