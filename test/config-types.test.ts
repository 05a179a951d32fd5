/**
 * The config types (src/config/types.ts and the policies' schema.ts files) are checked against the JSON Schema, so
 * the schema stays the single source: `FromSchema` (json-schema-to-ts) derives the type the schema describes, with
 * every defaulted property present, and `tsc --noEmit` in `npm test` fails when the hand-written types differ from
 * it anywhere in the tree: a property missing or extra on either side, optional on one side only, or of another type.
 * The hand-written types stay because they carry the doc comments and the names the code uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FromSchema } from 'json-schema-to-ts';
import { configSchema } from '../src/config/schema.ts';
import type { ApiConfig, RampartConfig } from '../src/config/types.ts';
import { POLICY_FACTORIES } from '../src/policies/index.ts';

type Schema = FromSchema<typeof configSchema>;
type SchemaApi = Schema['apis'][number];

/** Drops `readonly` all the way down (FromSchema's types are mutable). */
type Mutable<T> = T extends readonly (infer E)[] ? Mutable<E>[] : T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;
/** Every property present: then a property that only one side has (even an optional one) fails the comparison. */
type Complete<T> = T extends readonly (infer E)[] ? Complete<E>[] : T extends object ? { -readonly [K in keyof T]-?: Complete<T[K]> } : T;
/** `true` when A and B accept the same values and name the same properties; otherwise the side that differs. */
type Agree<A, B> = [
  [Mutable<A>] extends [B] ? true : { readonly typeIsWiderThanSchema: A },
  [B] extends [Mutable<A>] ? true : { readonly schemaIsWiderThanType: B },
  [Complete<A>] extends [Complete<B>] ? true : { readonly schemaHasAPropertyTheTypeLacks: B },
  [Complete<B>] extends [Complete<A>] ? true : { readonly typeHasAPropertyTheSchemaLacks: A },
];
type Ok = [true, true, true, true];

// One line per slice, so that a failure names the slice; the root lines cover everything in between.
const top: { [K in keyof RampartConfig & keyof Schema]: Agree<RampartConfig[K], Schema[K]> } = {
  listen: [true, true, true, true],
  trusted_proxies: [true, true, true, true],
  limits: [true, true, true, true],
  security_headers: [true, true, true, true],
  identity: [true, true, true, true],
  store: [true, true, true, true],
  auth_keys: [true, true, true, true],
  admin: [true, true, true, true],
  counters: [true, true, true, true],
  plans: [true, true, true, true],
  upstreams: [true, true, true, true],
  apis: [true, true, true, true],
  logging: [true, true, true, true],
  shutdown: [true, true, true, true],
  tracing: [true, true, true, true],
  audit: [true, true, true, true],
  monitor: [true, true, true, true],
  ip_filter: [true, true, true, true],
};
const api: { [K in keyof ApiConfig & keyof SchemaApi]: Agree<ApiConfig[K], SchemaApi[K]> } = {
  name: [true, true, true, true],
  spec: [true, true, true, true],
  upstream: [true, true, true, true],
  base_path: [true, true, true, true],
  passthrough: [true, true, true, true],
  max_body_bytes: [true, true, true, true],
  content_types: [true, true, true, true],
  cors: [true, true, true, true],
  auth: [true, true, true, true],
  rate_limits: [true, true, true, true],
  concurrency: [true, true, true, true],
  brute_force: [true, true, true, true],
  validation: [true, true, true, true],
  waf: [true, true, true, true],
  response: [true, true, true, true],
  rules: [true, true, true, true],
  owner_rules: [true, true, true, true],
  operations: [true, true, true, true],
  websocket: [true, true, true, true],
  upstream_credential: [true, true, true, true],
  password_policy: [true, true, true, true],
  self_service_keys: [true, true, true, true],
};
const root: Agree<RampartConfig, Schema> = [true, true, true, true];
const apiRoot: Agree<ApiConfig, SchemaApi> = [true, true, true, true];

test('the config types agree with the JSON Schema, all the way down', () => {
  const lines: readonly Ok[] = [...Object.values(top), ...Object.values(api), root, apiRoot];
  assert.ok(lines.every((line) => line.every((v) => v === true)));
  // Every schema property has its line above (the mapped types make a missing line a compile error too).
  assert.deepEqual(Object.keys(top).sort(), Object.keys(configSchema.properties).sort());
  // Settings that policies declare in the registry are typed by their policies (see src/policies/read-only).
  const registered = new Set(POLICY_FACTORIES.flatMap((f) => (f.setting ? [f.setting.key] : [])));
  assert.ok(registered.has('read_only'));
  assert.deepEqual(Object.keys(api).sort(), Object.keys(configSchema.properties.apis.items.properties).filter((key) => !registered.has(key)).sort());
});
