/**
 * The demo's seed users. Both the naive demo API (which stores scrypt hashes of these passwords) and the demo IdP
 * (which checks logins against them) read this one list, so a login works the same through either.
 *
 * These passwords are public on purpose: this is a demo, not an identity store.
 */

/** A role a demo user can hold. */
export type DemoRole = 'user' | 'admin';

/** One seed user. */
export interface DemoUser {
  /** Stable user id; the IdP puts it in the token's `sub`. */
  readonly id: string;
  readonly username: string;
  /** Plain-text demo password (hashed with scrypt before it is stored or compared). */
  readonly password: string;
  readonly email: string;
  readonly displayName: string;
  /** Tenant the user belongs to (`acme` or `globex`). */
  readonly tenantId: string;
  readonly role: DemoRole;
  readonly isAdmin: boolean;
  /** Roles the IdP puts in the token's `roles` claim. */
  readonly roles: readonly string[];
  /** Space-separated OAuth scopes the IdP grants this user. */
  readonly scope: string;
  /** Internal note the naive API leaks in its responses. */
  readonly internalNotes: string;
}

/** The two demo tenants. */
export const DEMO_TENANTS = [
  { id: 'acme', name: 'Acme Corp' },
  { id: 'globex', name: 'Globex Corporation' },
] as const;

const USER_SCOPE = 'orders:read orders:write profile';
const ADMIN_SCOPE = 'orders:read orders:write profile admin';

/** The seed users: alice and bob (acme), carol (globex), admin (acme, administrator). */
export const DEMO_USERS: readonly DemoUser[] = [
  {
    id: 'u-alice',
    username: 'alice',
    password: 'alice-pass',
    email: 'alice@acme.example',
    displayName: 'Alice Anders',
    tenantId: 'acme',
    role: 'user',
    isAdmin: false,
    roles: ['user'],
    scope: USER_SCOPE,
    internalNotes: 'VIP customer; credit limit raised manually by support',
  },
  {
    id: 'u-bob',
    username: 'bob',
    password: 'bob-pass',
    email: 'bob@acme.example',
    displayName: 'Bob Baker',
    tenantId: 'acme',
    role: 'user',
    isAdmin: false,
    roles: ['user'],
    scope: USER_SCOPE,
    internalNotes: 'Flagged for chargeback review in March',
  },
  {
    id: 'u-carol',
    username: 'carol',
    password: 'carol-pass',
    email: 'carol@globex.example',
    displayName: 'Carol Chen',
    tenantId: 'globex',
    role: 'user',
    isAdmin: false,
    roles: ['user'],
    scope: USER_SCOPE,
    internalNotes: 'Globex procurement lead; contract renewal pending',
  },
  {
    id: 'u-admin',
    username: 'admin',
    password: 'admin-pass',
    email: 'admin@acme.example',
    displayName: 'Demo Administrator',
    tenantId: 'acme',
    role: 'admin',
    isAdmin: true,
    roles: ['admin', 'user'],
    scope: ADMIN_SCOPE,
    internalNotes: 'Break-glass account; MFA disabled for the demo',
  },
];

/** Finds a seed user by username (exact match), or `undefined`. */
export function findDemoUser(username: string): DemoUser | undefined {
  return DEMO_USERS.find((u) => u.username === username);
}
