/**
 * Seeds the demo database: tenants, the users from demo/users.ts, one account each and a few orders. Idempotent:
 * rows that already exist are left as they are (so a demo that was tampered with stays tampered until reset).
 */
import type { DatabaseSync } from 'node:sqlite';
import { hashPassword } from '../password.ts';
import { DEMO_TENANTS, DEMO_USERS } from '../users.ts';

const SEED_TIME = '2025-01-15T09:00:00.000Z';

const ACCOUNTS = [
  { id: 'acc-alice', ownerId: 'u-alice', tenantId: 'acme', name: 'Alice main', balance: 1250.5 },
  { id: 'acc-bob', ownerId: 'u-bob', tenantId: 'acme', name: 'Bob main', balance: 310 },
  { id: 'acc-carol', ownerId: 'u-carol', tenantId: 'globex', name: 'Carol purchasing', balance: 9800 },
  { id: 'acc-admin', ownerId: 'u-admin', tenantId: 'acme', name: 'Admin ops', balance: 0 },
] as const;

const TENANT_SECRETS: Record<string, string> = {
  acme: 'acme-signing-secret-4f9c2e7a1b',
  globex: 'globex-signing-secret-8d3b6a0c5e',
};

const ORDERS = [
  { seq: 1, owner: 'alice', item: 'Widget', quantity: 3, amount: 29.97, status: 'paid', notes: 'Paid by card ending 4242' },
  { seq: 2, owner: 'alice', item: 'Gadget', quantity: 1, amount: 49, status: 'pending', notes: 'Awaiting stock' },
  { seq: 3, owner: 'bob', item: 'Sprocket', quantity: 10, amount: 15, status: 'paid', notes: 'Bulk discount applied by hand' },
  { seq: 4, owner: 'bob', item: 'Gizmo', quantity: 2, amount: 120, status: 'shipped', notes: 'Ships to home address' },
  { seq: 5, owner: 'carol', item: 'Flux capacitor', quantity: 1, amount: 1999.99, status: 'paid', notes: 'Export licence on file' },
  { seq: 6, owner: 'carol', item: 'Hoverboard', quantity: 1, amount: 450, status: 'cancelled', notes: 'Refund issued' },
  { seq: 7, owner: 'admin', item: 'Server rack', quantity: 1, amount: 3200, status: 'pending', notes: 'Internal purchase' },
] as const;

const PRODUCTS = [
  { id: 'p-widget', name: 'Widget', description: 'The classic. Fits every standard union nut.', price: 9.99 },
  { id: 'p-gadget', name: 'Gadget', description: "Does what it says; select the blue one if you're unsure.", price: 49 },
  { id: 'p-sprocket', name: 'Sprocket', description: 'Steel, 32 teeth, drop-forged.', price: 1.5 },
  { id: 'p-gizmo', name: 'Gizmo', description: 'Battery included (lasts about 3 days).', price: 60 },
] as const;

/** Inserts any missing seed rows. Hashes seed passwords with scrypt only for users that are not stored yet. */
export async function seedDemoData(db: DatabaseSync): Promise<void> {
  const insertTenant = db.prepare('INSERT OR IGNORE INTO tenants (id, name) VALUES (?, ?)');
  for (const t of DEMO_TENANTS) insertTenant.run(t.id, t.name);

  const userExists = db.prepare('SELECT 1 AS x FROM users WHERE id = ? OR username = ?');
  const insertUser = db.prepare(
    `INSERT OR IGNORE INTO users (id, username, email, displayName, passwordHash, tenantId, role, isAdmin,
       internalNotes, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const u of DEMO_USERS) {
    if (userExists.get(u.id, u.username)) continue;
    const hash = await hashPassword(u.password);
    insertUser.run(u.id, u.username, u.email, u.displayName, hash, u.tenantId, u.role, u.isAdmin ? 1 : 0, u.internalNotes, SEED_TIME);
  }

  const insertAccount = db.prepare(
    `INSERT OR IGNORE INTO accounts (id, tenantId, ownerId, name, currency, balance, tenantSecret, createdAt)
     VALUES (?, ?, ?, ?, 'EUR', ?, ?, ?)`,
  );
  for (const a of ACCOUNTS) {
    insertAccount.run(a.id, a.tenantId, a.ownerId, a.name, a.balance, TENANT_SECRETS[a.tenantId] ?? '', SEED_TIME);
  }

  const insertProduct = db.prepare('INSERT OR IGNORE INTO products (id, name, description, price) VALUES (?, ?, ?, ?)');
  for (const p of PRODUCTS) insertProduct.run(p.id, p.name, p.description, p.price);

  const insertOrder = db.prepare(
    `INSERT OR IGNORE INTO orders (seq, id, accountId, ownerId, tenantId, item, quantity, amount, status,
       internalNotes, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const o of ORDERS) {
    const user = DEMO_USERS.find((u) => u.username === o.owner);
    if (!user) continue;
    insertOrder.run(
      o.seq,
      `ord-${o.seq}`,
      `acc-${o.owner}`,
      user.id,
      user.tenantId,
      o.item,
      o.quantity,
      o.amount,
      o.status,
      o.notes,
      SEED_TIME,
    );
  }
}
