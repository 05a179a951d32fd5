/**
 * Data access for the demo API. Rows come back whole, internal fields included: the naive API returns them as
 * they are, which is the point of the demo.
 */
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

/** A full user row as stored (password hash and internal notes included). */
export interface UserRow {
  id: string;
  username: string;
  email: string;
  displayName: string;
  passwordHash: string;
  tenantId: string;
  role: string;
  isAdmin: boolean;
  internalNotes: string;
  createdAt: string;
}

/** A full account row (tenant secret included). */
export interface AccountRow {
  id: string;
  tenantId: string;
  ownerId: string;
  name: string;
  currency: string;
  balance: number;
  tenantSecret: string;
  createdAt: string;
}

/** A full order row (internal notes included). */
export interface OrderRow {
  id: string;
  accountId: string;
  ownerId: string;
  tenantId: string;
  item: string;
  quantity: number;
  amount: number;
  status: string;
  internalNotes: string;
  createdAt: string;
}

type Row = Record<string, unknown>;

/** Columns PATCH /users/me writes (every one but the primary key: mass assignment on purpose). */
const USER_WRITABLE = [
  'username',
  'email',
  'displayName',
  'passwordHash',
  'tenantId',
  'role',
  'isAdmin',
  'internalNotes',
  'createdAt',
] as const;

const USER_COLS = 'id, username, email, displayName, passwordHash, tenantId, role, isAdmin, internalNotes, createdAt';
const ACCOUNT_COLS = 'id, tenantId, ownerId, name, currency, balance, tenantSecret, createdAt';
const ORDER_COLS = 'id, accountId, ownerId, tenantId, item, quantity, amount, status, internalNotes, createdAt';

function toUser(row: Row): UserRow {
  return { ...(row as unknown as UserRow), isAdmin: Boolean(row['isAdmin']) };
}

/** node:sqlite binds no booleans; everything else is passed through unchanged (and may make SQLite throw). */
function toSql(value: unknown): SQLInputValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value as SQLInputValue;
}

/** Data access over one open demo database. */
export interface DemoRepo {
  getUser(id: string): UserRow | undefined;
  getUserByUsername(username: string): UserRow | undefined;
  listUsers(): UserRow[];
  /** Applies every known column in `fields` (role and isAdmin included). Returns the updated row. */
  updateUser(id: string, fields: Record<string, unknown>): UserRow | undefined;
  deleteUser(id: string): boolean;
  listAccounts(tenantId?: string): AccountRow[];
  getAccount(id: string): AccountRow | undefined;
  listOrders(filter: { status?: string; limit?: number }): OrderRow[];
  getOrder(id: string): OrderRow | undefined;
  createOrder(order: Omit<OrderRow, 'id' | 'createdAt'>): OrderRow;
  /** Products whose name or description contains `text`. Built by string concatenation: SQL injection, on purpose. */
  searchProducts(text: string): Record<string, unknown>[];
}

/** Builds the data-access functions over `db`. Statements are prepared once here. */
export function createRepo(db: DatabaseSync): DemoRepo {
  const getUser = db.prepare(`SELECT ${USER_COLS} FROM users WHERE id = ?`);
  const getUserByName = db.prepare(`SELECT ${USER_COLS} FROM users WHERE username = ?`);
  const listUsers = db.prepare(`SELECT ${USER_COLS} FROM users ORDER BY createdAt, id`);
  const deleteUser = db.prepare('DELETE FROM users WHERE id = ?');
  const listAccounts = db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts ORDER BY id`);
  const listAccountsByTenant = db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts WHERE tenantId = ? ORDER BY id`);
  const getAccount = db.prepare(`SELECT ${ACCOUNT_COLS} FROM accounts WHERE id = ?`);
  const getOrder = db.prepare(`SELECT ${ORDER_COLS} FROM orders WHERE id = ?`);
  const nextSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM orders');
  const insertOrder = db.prepare(
    `INSERT INTO orders (seq, id, accountId, ownerId, tenantId, item, quantity, amount, status, internalNotes,
       createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );

  return {
    getUser: (id) => {
      const row = getUser.get(id);
      return row ? toUser(row) : undefined;
    },
    getUserByUsername: (username) => {
      const row = getUserByName.get(username);
      return row ? toUser(row) : undefined;
    },
    listUsers: () => listUsers.all().map(toUser),
    updateUser: (id, fields) => {
      const cols = USER_WRITABLE.filter((c) => Object.hasOwn(fields, c));
      if (cols.length > 0) {
        const sets = cols.map((c) => `"${c}" = ?`).join(', ');
        db.prepare(`UPDATE users SET ${sets} WHERE id = ?`).run(...cols.map((c) => toSql(fields[c])), id);
      }
      const row = getUser.get(id);
      return row ? toUser(row) : undefined;
    },
    deleteUser: (id) => Number(deleteUser.run(id).changes) > 0,
    listAccounts: (tenantId) =>
      (tenantId === undefined ? listAccounts.all() : listAccountsByTenant.all(tenantId)) as unknown as AccountRow[],
    getAccount: (id) => getAccount.get(id) as unknown as AccountRow | undefined,
    listOrders: ({ status, limit }) => {
      const where = status === undefined ? '' : 'WHERE status = ?';
      const params: SQLInputValue[] = status === undefined ? [] : [status];
      // No cap on limit, and a missing limit returns everything: naive on purpose (LIMIT -1 is "no limit").
      params.push(limit ?? -1);
      return db.prepare(`SELECT ${ORDER_COLS} FROM orders ${where} ORDER BY seq LIMIT ?`).all(...params) as unknown as OrderRow[];
    },
    getOrder: (id) => getOrder.get(id) as unknown as OrderRow | undefined,
    searchProducts: (text) =>
      db.prepare(`SELECT id, name, description, price FROM products WHERE name LIKE '%${text}%' OR description LIKE '%${text}%' ORDER BY id`).all(),
    createOrder: (o) => {
      const seq = Number((nextSeq.get() as Row)['next']);
      const id = `ord-${seq}`;
      insertOrder.run(
        seq,
        id,
        toSql(o.accountId),
        toSql(o.ownerId),
        toSql(o.tenantId),
        toSql(o.item),
        toSql(o.quantity),
        toSql(o.amount),
        toSql(o.status),
        toSql(o.internalNotes),
        new Date().toISOString(),
      );
      return getOrder.get(id) as unknown as OrderRow;
    },
  };
}
