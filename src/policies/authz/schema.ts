const CEL = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const OPERATION_ID = { pattern: '^[A-Za-z0-9_.-]{1,128}$' } as const;

/** Attribute rules by operationId (config path `apis[].rules`). */
export const rulesSchema = {
  type: 'object',
  propertyNames: OPERATION_ID,
  additionalProperties: {
    ...CEL,
    description: 'A CEL expression over `request`, `identity` and `now` that must be true for the request to pass (else 403).',
  },
  default: {},
  description: 'CEL authorization rules by operationId; they add to `x-rampart-rule` in the spec (both must hold).',
} as const;

/** Object-level ownership rules by operationId (config path `apis[].owner_rules`). */
export const ownerRulesSchema = {
  type: 'object',
  propertyNames: OPERATION_ID,
  default: {},
  description:
    'Object-level authorization (BOLA) by operationId. A string is a CEL expression: checked on the response body when it mentions `response`, else on the request before proxying.',
  additionalProperties: {
    // A string (CEL shorthand) or an object (long form); one union type so the object form can carry defaults.
    type: ['string', 'object'],
    minLength: 1,
    maxLength: 4096,
    additionalProperties: false,
    minProperties: 1,
    description: 'A CEL expression (string shorthand) or an object with `request`, `response`, `filter`, `every`, `deny_status`.',
    properties: {
      request: { ...CEL, description: 'Checked before proxying over `request`, `identity`, `now`.' },
      response: { ...CEL, description: 'Checked on the buffered 2xx response over `response` (status, headers, body) too.' },
      filter: { ...CEL, description: 'For list responses: items for which this is false (over `item`) are removed.' },
      every: { ...CEL, description: 'For list responses: the whole response is denied if this is false for any `item`.' },
      deny_status: {
        enum: [403, 404],
        default: 404,
        description: 'Status of a denied object read: 404 (default, existence not leaked) or 403.',
      },
    },
  },
} as const;

/** Per-operation roles (config path `apis[].operations.<operationId>.roles`). */
export const rolesSchema = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 128 },
  uniqueItems: true,
  maxItems: 64,
  description: 'The caller needs at least one of these roles (function-level authorization); wins over `x-rampart-roles`.',
} as const;
