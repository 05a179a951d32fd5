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
  const log = new AuditLog({} as AuditStore, { writer });
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
