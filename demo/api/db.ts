/**
 * Opens the demo API's SQLite database (node:sqlite) and creates its tables.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL,
  displayName TEXT NOT NULL,
  passwordHash TEXT NOT NULL,
  tenantId TEXT NOT NULL,
  role TEXT NOT NULL,
  isAdmin INTEGER NOT NULL DEFAULT 0,
  internalNotes TEXT NOT NULL DEFAULT '',
  createdAt TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  tenantId TEXT NOT NULL,
  ownerId TEXT NOT NULL,
  name TEXT NOT NULL,
  currency TEXT NOT NULL,
  balance REAL NOT NULL,
  tenantSecret TEXT NOT NULL,
  createdAt TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  price REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  accountId TEXT NOT NULL,
  ownerId TEXT NOT NULL,
  tenantId TEXT NOT NULL,
  item TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  amount REAL NOT NULL,
  status TEXT NOT NULL,
  internalNotes TEXT NOT NULL DEFAULT '',
  createdAt TEXT NOT NULL
);
`;

/**
 * Opens (creating if needed) the demo database and its tables.
 * @param path a file path, or `':memory:'` for a throw-away database. The parent folder of a file path is created.
 */
export function openDemoDb(path: string): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL;');
  db.exec(SCHEMA);
  return db;
}
