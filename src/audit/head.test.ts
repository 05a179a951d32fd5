/**
 * The head publisher signs in batches (time- and count-based, never per record), writes the head file atomically,
 * and its heads verify only with the audit key; parseHead refuses malformed heads.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HeadPublisher, parseHead, readHeadFile, verifyHead } from './head.ts';
import { signingKeyFromPem } from './signing.ts';

const newKey = () => signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const key = newKey();
const hash = (n: number) => n.toString(16).padStart(64, '0');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('time-batched: the first commit is signed at once, a burst after it by one head within the interval', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'rampart-head-')), 'audit-head.json');
  const head = new HeadPublisher({ key, keyedFrom: () => 1, file, intervalMs: 150, every: 1000 });
  head.observe({ seq: 1, hash: hash(1) }, 1);
  assert.equal(head.current()?.seq, 1);
  const first = head.current();
  for (let seq = 2; seq <= 50; seq++) head.observe({ seq, hash: hash(seq) }, 1);
  assert.equal(head.current(), first, 'not re-signed per record');
  await sleep(300);
  assert.equal(head.current()?.seq, 50, 'the timer covers the end of the burst');
  await head.flush();
  assert.deepEqual(readHeadFile(file), head.current());
  assert.equal((readFileSync(file, 'utf8').match(/\n/g) ?? []).length, 1);
  await head.close();
});

test('count-batched: `every` uncovered records force a head before the interval (not within 100 ms of the last)', async () => {
  let now = 0;
  const head = new HeadPublisher({ key, keyedFrom: () => 1, intervalMs: 60_000, every: 10, now: () => now });
  head.observe({ seq: 1, hash: hash(1) }, 1);
  now = 50;
  head.observe({ seq: 20, hash: hash(20) }, 19);
  assert.equal(head.current()?.seq, 1, 'the 100 ms floor');
  now = 150;
  head.observe({ seq: 21, hash: hash(21) }, 1);
  assert.equal(head.current()?.seq, 21);
  head.observe({ seq: 21, hash: hash(21) }, 0);
  await head.close();
});

test('heads verify with the audit key only; tampered or malformed heads are refused', () => {
  const head = new HeadPublisher({ key, keyedFrom: () => 3 });
  head.observe({ seq: 7, hash: hash(7) }, 7);
  const signed = parseHead(JSON.stringify(head.current()));
  assert.equal(verifyHead(key, signed), true);
  assert.equal(verifyHead(newKey(), signed), false, 'another key');
  for (const change of [{ seq: 8 }, { hash: hash(8) }, { keyed_from: 9 }, { time: '2030-01-01T00:00:00.000Z' }]) {
    assert.equal(verifyHead(key, { ...signed, ...change }), false, JSON.stringify(change));
  }
  assert.deepEqual(parseHead(JSON.stringify({ level: 30, msg: 'audit head', auditHead: signed })), signed, 'the log line is accepted as is');
  for (const bad of ['nope', '[]', JSON.stringify({ ...signed, v: 1 }), JSON.stringify({ ...signed, seq: 0 }), JSON.stringify({ ...signed, hash: 'x' })]) {
    assert.throws(() => parseHead(bad), /audit head/);
  }
});
