/**
 * The SQLite side of the audit database (db.ts): in `yield` mode a connection waiting for another connection's
 * write lock keeps the event loop running (the gateway's connection, while the writer thread commits); in `wait`
 * mode it blocks in SQLite's busy handler, which only a thread of its own may do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openDb } from './db.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-db-'));

/** Holds the write lock from another connection of this thread for `ms`, released by a timer of this event loop. */
function holdWriteLock(path: string, ms: number): void {
  const other = new DatabaseSync(path);
  other.exec('BEGIN IMMEDIATE');
  setTimeout(() => {
    other.exec('ROLLBACK');
    other.close();
  }, ms);
}

test('yield: writes and transactions wait for the lock without blocking the event loop, then succeed', async () => {
  const path = join(dir, 'yield.db');
  const db = await openDb({ kind: 'sqlite', path, onBusy: 'yield' });
  await db.exec('CREATE TABLE t (n INTEGER)');
  let ticks = 0;
  const ticker = setInterval(() => (ticks += 1), 5);
  try {
    holdWriteLock(path, 150);
    const started = Date.now();
    assert.equal(await db.run('INSERT INTO t (n) VALUES ($1)', [1]), 1);
    assert.ok(Date.now() - started >= 100, 'it waited for the lock');
    holdWriteLock(path, 150);
    await db.tx(async (tx) => void (await tx.run('INSERT INTO t (n) VALUES ($1)', [2])));
    assert.ok(ticks >= 20, `the event loop ran while waiting (${ticks} ticks)`);
    assert.deepEqual((await db.all('SELECT n FROM t ORDER BY n')).map((row) => row['n']), [1, 2]);
  } finally {
    clearInterval(ticker);
    await db.close();
  }
});

test('yield: a lock never released fails the write after the busy wait, as wait mode does (fail closed, no hang)', async () => {
  const path = join(dir, 'stuck.db');
  const db = await openDb({ kind: 'sqlite', path, onBusy: 'yield' });
  await db.exec('CREATE TABLE t (n INTEGER)');
  const other = new DatabaseSync(path);
  other.exec('BEGIN IMMEDIATE');
  try {
    const started = Date.now();
    await assert.rejects(db.run('INSERT INTO t (n) VALUES (1)'), /locked|busy/i);
    assert.ok(Date.now() - started >= 4500, 'it waited the whole busy time');
  } finally {
    other.exec('ROLLBACK');
    other.close();
    await db.close();
  }
});
