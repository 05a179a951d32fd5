/**
 * The hand-written config types (src/config/types.ts) name exactly the properties the JSON Schema has, at the top
 * level, per API and in the main slices (listen, audit, monitor, limits, waf, validation, response): a setting added to the schema without a type (or a type field the schema does not allow) fails
 * `tsc --noEmit` in `npm test`. The runtime assertion restates the same check on the schema's data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../src/config/schema.ts';
import type { ApiConfig, RampartConfig } from '../src/config/types.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type PropertiesOf<S> = S extends { readonly properties: infer P } ? keyof P & string : never;

type TopSchemaKeys = PropertiesOf<typeof configSchema>;
type ApiSchemaKeys = PropertiesOf<(typeof configSchema)['properties']['apis']['items']>;

// Compile-time: each `true` only type-checks when the key sets are equal.
const topKeysMatch: Equal<keyof RampartConfig & string, TopSchemaKeys> = true;
const apiKeysMatch: Equal<keyof ApiConfig & string, ApiSchemaKeys> = true;
type Top = (typeof configSchema)['properties'];
type Api = (typeof configSchema)['properties']['apis']['items']['properties'];
const slicesMatch: [
  Equal<keyof RampartConfig['listen'] & string, PropertiesOf<Top['listen']>>,
  Equal<keyof RampartConfig['audit'] & string, PropertiesOf<Top['audit']>>,
  Equal<keyof RampartConfig['monitor'] & string, PropertiesOf<Top['monitor']>>,
  Equal<keyof RampartConfig['limits'] & string, PropertiesOf<Top['limits']>>,
  Equal<keyof NonNullable<ApiConfig['waf']> & string, PropertiesOf<Api['waf']>>,
  Equal<keyof ApiConfig['validation'] & string, PropertiesOf<Api['validation']>>,
  Equal<keyof ApiConfig['response'] & string, PropertiesOf<Api['response']>>,
] = [true, true, true, true, true, true, true];

test('config types name exactly the schema properties (top level and per API)', () => {
  assert.equal(topKeysMatch && apiKeysMatch && slicesMatch.every(Boolean), true);
  // The same at run time, for the record of what was compared.
  assert.ok(Object.keys(configSchema.properties).length > 10);
  assert.ok(Object.keys(configSchema.properties.apis.items.properties).length > 10);
});
