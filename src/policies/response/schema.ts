import { MAX_RESPONSE_BUFFER_BYTES } from '../../http/limits.ts';

/** Response minimisation settings (config path `apis[].response`). */
export const responseSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description:
    'Response checks against the declared response schemas: undeclared and writeOnly properties removed, sensitive fields masked or dropped, undeclared status codes and media types replaced by a 502.',
  properties: {
    mode: {
      enum: ['enforce', 'monitor', 'off'],
      default: 'enforce',
      description:
        '`enforce` minimises and replaces non-conforming responses with a generic 502; `monitor` minimises but only logs non-conforming responses; `off` disables the response contract.',
    },
    max_body_bytes: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_RESPONSE_BUFFER_BYTES,
      default: 4194304,
      description: 'Largest response body buffered for checking (bytes, at most 8 MiB); larger bodies are blocked (502) in `enforce` mode, passed unchecked and logged in `monitor` mode.',
    },
    event_streams: {
      enum: ['declared', 'passthrough'],
      default: 'declared',
      description:
        '`declared`: a `text/event-stream` answer streams only where the operation declares one (checked event by event when it gives a schema) and is a 502 elsewhere. `passthrough`: event streams on any operation (and on passthrough APIs) stream as sent, unchecked: no contract, WAF leak or ownership check sees them (an ownership-checked operation still refuses them). See docs/response.md.',
    },
    allow_headers: {
      type: 'array',
      maxItems: 128,
      uniqueItems: true,
      items: { type: 'string', pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]{1,64}$' },
      default: [],
      description:
        'Upstream response headers passed on every operation of the API in addition to those the operation declares for the status and the safe list (docs/response.md). `Set-Cookie` passes only where declared.',
    },
    sensitive_fields: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9_.$-]{1,128}$' },
      additionalProperties: { enum: ['mask', 'drop'] },
      default: {},
      description:
        'Property names masked (`mask`: value replaced by "****") or removed (`drop`) wherever they appear in a response schema, in addition to `x-rampart-sensitive` in the spec.',
    },
  },
} as const;
