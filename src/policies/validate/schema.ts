/** Request validation settings (config path `apis[].validation`). */
export const validationSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Strict request validation against the OpenAPI contract (path, query, headers, cookies, body).',
  properties: {
    additional_properties: {
      enum: ['reject', 'allow'],
      default: 'reject',
      description:
        'Properties and query parameters the spec does not declare: `reject` (even where the spec forgot `additionalProperties: false`) or `allow` (only what the spec itself says).',
    },
    readonly_in_requests: {
      enum: ['reject', 'allow'],
      default: 'reject',
      description: '`readOnly` properties sent in a request body (mass assignment): `reject` answers 400.',
    },
    max_string_length: {
      type: 'integer',
      minimum: 1,
      maximum: 104857600,
      default: 10000,
      description: 'Longest string (characters) where the spec sets no `maxLength`.',
    },
    max_array_items: {
      type: 'integer',
      minimum: 1,
      maximum: 1000000,
      default: 1000,
      description: 'Most array items where the spec sets no `maxItems`.',
    },
    max_depth: {
      type: 'integer',
      minimum: 1,
      maximum: 256,
      default: 32,
      description: 'Deepest nesting of objects and arrays in a body.',
    },
    max_object_keys: {
      type: 'integer',
      minimum: 1,
      maximum: 1000000,
      default: 1000,
      description: 'Most keys in one JSON object (body or `content: application/json` parameter); more answers 400.',
    },
    max_json_tokens: {
      type: 'integer',
      minimum: 1,
      maximum: 100000000,
      default: 100000,
      description: 'Most tokens (every value and every object key) in one JSON document; more answers 413. Bounds the CPU one body costs.',
    },
    max_part_bytes: {
      type: 'integer',
      minimum: 1,
      maximum: 1073741824,
      default: 1048576,
      description: 'Largest single part (bytes) of a multipart/form-data body.',
    },
    max_parts: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      default: 100,
      description: 'Most parts in a multipart/form-data body.',
    },
  },
} as const;
