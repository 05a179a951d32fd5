import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

// Its own instance: the loader's is strict and collects every error for the user; this one fills in one slice.
const ajv = new Ajv2020({ strict: false, useDefaults: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * A copy of `value` with the defaults of `schema` filled in, as the loader fills them in `rampart.yaml`: for config
 * slices read from elsewhere (an `x-rampart-*` spec extension) and for configs built in code (tests, embedding), so
 * that the schema stays the only place a default is written. Throws when `value` does not satisfy the schema.
 */
export function withSchemaDefaults<T>(schema: object, value: unknown = {}): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  const copy: unknown = structuredClone(value);
  if (!validate(copy)) throw new Error(`not valid against its schema: ${ajv.errorsText(validate.errors)}`);
  return copy as T;
}
