import { Ajv2020, type Options } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';

// ajv-formats is CommonJS: Node's ESM loader hands over module.exports (callable), TypeScript sees the namespace.
const addFormats = addFormatsModule as unknown as FormatsPlugin;

/** An RFC 3339 date-time with its offset, on a real calendar day (ajv-formats' full `date-time`: 2027-02-31 is not one). */
export function isDateTime(value: string): boolean {
  return (fullFormats['date-time'] as { validate(v: string): boolean }).validate(value);
}

/** OpenAPI keywords and extensions that carry no validation meaning for Ajv. */
const OPENAPI_ANNOTATIONS = ['example', 'discriminator', 'xml', 'externalDocs', 'x-rampart-sensitive', 'x-rampart-password'];

/**
 * Creates an Ajv (JSON Schema 2020-12) instance for OpenAPI schemas: formats from ajv-formats, OpenAPI annotation
 * keywords known, other `x-*` extensions ignored. `coerce` turns on type coercion for string-valued inputs (path,
 * query, headers, cookies, form fields), including scalar→array. Compile everything at start; never per request.
 */
export function createOpenApiAjv(options: { coerce?: boolean; removeAdditional?: Options['removeAdditional']; extraKeywords?: readonly string[] } = {}): Ajv2020 {
  const ajv = new Ajv2020({
    strict: false,
    allErrors: false,
    coerceTypes: options.coerce ? 'array' : false,
    removeAdditional: options.removeAdditional ?? false,
    useDefaults: false,
    validateFormats: true,
    allowUnionTypes: true,
    // Keep the generated code free of the data values in messages (messages never echo input anyway).
    messages: true,
    unicodeRegExp: true,
  });
  addFormats(ajv);
  for (const keyword of OPENAPI_ANNOTATIONS) if (!options.extraKeywords?.includes(keyword)) ajv.addKeyword(keyword);
  return ajv;
}
