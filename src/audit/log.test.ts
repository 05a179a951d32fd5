/**
 * The audit log's group commit: when batches go to the writer. The writer here holds each commit open until the
 * test releases it, so what a commit in flight does to later records is observable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditLog } from './log.ts';
import type { AuditStore, PendingEntry } from './store.ts';
import type { AuditWriter } from './writer.ts';

class HeldWriter implements AuditWriter {
  readonly batches: number[] = [];
  readonly #release: (() => void)[] = [];
  async append(entries: readonly PendingEntry[]) {
    this.batches.push(entries.length);
    await new Promise<void>((resolve) => this.#release.push(resolve));
    return undefined;
  }
  release(): void {
    this.#release.shift()?.();
  }
  get held(): number {
    return this.#release.length;
  }
  async prune() {
    return 0;
  }
  async close() {}
}

const record = (n: number) => ({ type: 'request', fields: { n } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

test('default group commit: one batch per event-loop turn, and records arriving during a commit share the next one', async () => {
  const writer = new HeldWriter();
  // No spacing: what follows counts turns, not milliseconds (the spacing has its own test below).
  const log = new AuditLog({} as AuditStore, { writer, commitSpacingMs: 0 });
  log.append(record(1));
  log.append(record(2));
  assert.deepEqual(writer.batches, [], 'nothing is written before the end of the turn');
  await turn();
  assert.deepEqual(writer.batches, [2], 'the turn’s records go in one batch, without a timer delay');
  const first = log.durable();
  for (let i = 3; i <= 12; i++) {
    log.append(record(i));
    await turn();
  }
  assert.deepEqual(writer.batches, [2], 'no second batch while the first is committing');
  const second = log.durable();
  writer.release();
  await first;
  await turn();
  assert.deepEqual(writer.batches, [2, 10], 'the ten records of ten turns share the next commit');
  let settled = false;
  void second.then(() => (settled = true));
  await turn();
  assert.equal(settled, false, 'durable() waits for the commit that holds the record');
  writer.release();
  await second;
  await log.close();
});

test('under load commits start at most once per spacing, so batches grow; after a quiet spell a record goes at once', async () => {
  const writer = new HeldWriter();
  const log = new AuditLog({} as AuditStore, { writer, commitSpacingMs: 40 });
  log.append(record(1));
  await turn();
  assert.deepEqual(writer.batches, [1], 'idle: the first record is written at the end of its turn');
  writer.release();
  await log.durable();
  // The commit ended at once, but the next may start only 40 ms after the first did: records keep gathering.
  for (let i = 2; i <= 6; i++) {
    log.append(record(i));
    await turn();
  }
  assert.deepEqual(writer.batches, [1], 'within the spacing no commit starts');
  const pending = log.durable();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(writer.batches, [1, 5], 'the five records share one commit once the spacing has passed');
  writer.release();
  await pending;
  // A full batch is not held back by the spacing.
  const full = new AuditLog({} as AuditStore, { writer, commitSpacingMs: 10_000, maxBatch: 3 });
  full.append(record(1));
  await turn();
  writer.release();
  await full.durable();
  for (let i = 2; i <= 4; i++) full.append(record(i));
  await turn();
  assert.deepEqual(writer.batches, [1, 5, 1, 3], 'maxBatch records go at once');
  writer.release();
  await full.durable();
  // flush() does not wait either.
  full.append(record(5));
  const flushed = full.flush();
  await turn();
  assert.deepEqual(writer.batches, [1, 5, 1, 3, 1]);
  writer.release();
  await flushed;
  await full.close();
  await log.close();
});

test('a failed commit fails its own records only, and the next batch still goes', async () => {
  let fail = true;
  const batches: number[] = [];
  const writer: AuditWriter = {
    async append(entries) {
      batches.push(entries.length);
      if (fail) {
        fail = false;
        throw new Error('disk full');
      }
      return undefined;
    },
    async prune() {
      return 0;
    },
    async close() {},
  };
  const log = new AuditLog({} as AuditStore, { writer });
  log.append(record(1));
  await assert.rejects(log.durable(), /disk full/);
  log.append(record(2));
  await log.durable();
  assert.deepEqual(batches, [1, 1]);
  await log.close();
});

test('with flush_interval_ms above 0 a batch waits that long after its first record', async () => {
  const writer = new HeldWriter();
  const log = new AuditLog({} as AuditStore, { writer, flushIntervalMs: 30 });
  log.append(record(1));
  await turn();
  assert.deepEqual(writer.batches, []);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(writer.batches, [1]);
  writer.release();
  await log.durable();
  await log.close();
});

test('with flush_interval_ms above 0, records that waited for the commit in flight go as it ends, with no second delay', async () => {
  const writer = new HeldWriter();
  const log = new AuditLog({} as AuditStore, { writer, flushIntervalMs: 30 });
  log.append(record(1));
  await new Promise((resolve) => setTimeout(resolve, 45));
  assert.deepEqual(writer.batches, [1]);
  log.append(record(2));
  await new Promise((resolve) => setTimeout(resolve, 45));
  assert.deepEqual(writer.batches, [1], 'held behind the commit in flight');
  writer.release();
  await turn();
  await turn();
  assert.deepEqual(writer.batches, [1, 1], 'written as the first commit ended');
  writer.release();
  await log.durable();
  await log.close();
});
