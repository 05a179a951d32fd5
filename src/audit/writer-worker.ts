/**
 * The audit writer thread (writer.ts ThreadedAuditWriter): owns a database connection of its own and the chain's
 * appends, so linking, MACs, checkpoint signatures and each commit's fsync run here and not on the gateway's event
 * loop. One request at a time, in the order sent: the chain is extended in that order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from './db.ts';
import { AuditStore } from './store.ts';
import type { AuditAppended, WriterReply, WriterRequest, WriterWorkerData } from './writer.ts';

const data = workerData as WriterWorkerData;
const port = parentPort!;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

async function open(): Promise<void> {
  const db = await openDb(data.db);
  let appended: AuditAppended | undefined;
  const store = new AuditStore(db, data.key, { checkpointEvery: data.checkpointEvery, onAppended: (tail, count) => (appended = { ...tail, count }) });
  try {
    await store.init();
  } catch (error) {
    await db.close();
    throw error;
  }
  store.lowerKeyedFrom(data.keyedFrom);
  const handle = async (request: WriterRequest): Promise<WriterReply> => {
    appended = undefined;
    if (request.op === 'append') {
      await store.append(request.entries);
      return { id: request.id, ok: true, ...(appended ? { appended } : {}) };
    }
    if (request.op === 'prune') {
      const deleted = await store.prune(request.cutoff, request.now);
      return { id: request.id, ok: true, deleted, ...(appended ? { appended } : {}) };
    }
    await db.close();
    return { id: request.id, ok: true };
  };
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (request: WriterRequest) => {
    queue = queue.then(async () => {
      let reply: WriterReply;
      try {
        reply = await handle(request);
      } catch (error) {
        reply = { id: request.id, ok: false, error: message(error) };
      }
      port.postMessage(reply);
    });
  });
}

open().then(
  () => port.postMessage({ id: 0, ok: true } satisfies WriterReply),
  (error: unknown) => port.postMessage({ id: 0, ok: false, error: message(error) } satisfies WriterReply),
);
