import { Ajv2020, type Options } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';

// ajv-formats is CommonJS: Node's ESM loader hands over module.exports (callable), TypeScript sees the namespace.
const addFormats = addFormatsModule as unknown as FormatsPlugin;

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
